BEGIN;

CREATE SCHEMA IF NOT EXISTS analytics;

-- dbt_session_duration: per session: exact minutes from first to last event
DROP TABLE IF EXISTS analytics.dbt_session_duration;
CREATE TABLE analytics.dbt_session_duration AS
SELECT
  s.dbt_visitor_id,
  s.session_id,
  CAST(CAST(EXTRACT(EPOCH FROM f.ended_at) * 1000000 AS BIGINT) - CAST(EXTRACT(EPOCH FROM s.session_start_at) * 1000000 AS BIGINT) AS DOUBLE PRECISION) / 60000000 AS session_duration
FROM analytics.dbt_session_tracks AS s
INNER JOIN analytics.dbt_session_track_facts AS f
  ON f.session_id = s.session_id;

COMMIT;
