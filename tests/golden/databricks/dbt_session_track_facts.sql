
CREATE SCHEMA IF NOT EXISTS analytics;

-- dbt_session_track_facts: per session: last event and event counts
CREATE OR REPLACE TABLE analytics.dbt_session_track_facts AS
SELECT
  f.session_id,
  MAX(f.timestamp) AS ended_at,
  COUNT(*) AS num_pvs
FROM analytics.dbt_track_facts AS f
GROUP BY
  f.session_id;
