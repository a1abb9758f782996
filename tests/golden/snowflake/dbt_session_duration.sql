
CREATE SCHEMA IF NOT EXISTS analytics;

-- dbt_session_duration: per session: exact minutes from first to last event
CREATE OR REPLACE TABLE analytics.dbt_session_duration AS
SELECT
  s.dbt_visitor_id,
  s.session_id,
  CAST(DATE_PART(EPOCH_MICROSECOND, f.ended_at) - DATE_PART(EPOCH_MICROSECOND, s.session_start_at) AS DOUBLE) / 60000000 AS session_duration
FROM analytics.dbt_session_tracks AS s
INNER JOIN analytics.dbt_session_track_facts AS f
  ON f.session_id = s.session_id;
