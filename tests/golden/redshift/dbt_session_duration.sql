BEGIN;

CREATE SCHEMA IF NOT EXISTS analytics;

-- dbt_session_duration: per session: exact minutes from first to last event
DROP TABLE IF EXISTS analytics.dbt_session_duration;
CREATE TABLE analytics.dbt_session_duration AS
SELECT
  s.dbt_visitor_id,
  s.session_id,
  CAST((
    CAST(EXTRACT(EPOCH FROM DATE_TRUNC('MINUTE', f.ended_at)) AS BIGINT) * 1000000 + CAST(ROUND(DATE_PART('second', f.ended_at) * 1000000) AS BIGINT)
  ) - (
    CAST(EXTRACT(EPOCH FROM DATE_TRUNC('MINUTE', s.session_start_at)) AS BIGINT) * 1000000 + CAST(ROUND(DATE_PART('second', s.session_start_at) * 1000000) AS BIGINT)
  ) AS DOUBLE PRECISION) / 60000000 AS session_duration
FROM analytics.dbt_session_tracks AS s
INNER JOIN analytics.dbt_session_track_facts AS f
  ON f.session_id = s.session_id;

COMMIT;
