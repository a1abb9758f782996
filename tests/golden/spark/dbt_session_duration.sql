
CREATE SCHEMA IF NOT EXISTS analytics;

-- dbt_session_duration: per session: exact minutes from first to last event
DROP TABLE IF EXISTS analytics.dbt_session_duration;
CREATE TABLE analytics.dbt_session_duration
USING PARQUET AS
SELECT
  s.dbt_visitor_id,
  s.session_id,
  CAST(UNIX_MICROS(f.ended_at) - UNIX_MICROS(s.session_start_at) AS DOUBLE) / 60000000 AS session_duration
FROM analytics.dbt_session_tracks AS s
INNER JOIN analytics.dbt_session_track_facts AS f
  ON f.session_id = s.session_id;
