BEGIN;

CREATE SCHEMA IF NOT EXISTS analytics;

-- dbt_user_session_facts: per visitor: first and last session start, number of sessions
CREATE OR REPLACE TABLE analytics.dbt_user_session_facts AS
SELECT
  s.dbt_visitor_id,
  MIN(s.session_start_at) AS first_date,
  MAX(s.session_start_at) AS last_date,
  COUNT(*) AS number_of_sessions
FROM analytics.dbt_session_tracks AS s
GROUP BY
  s.dbt_visitor_id;

COMMIT;
