
CREATE DATABASE IF NOT EXISTS analytics;

-- dbt_session_duration: per session: exact minutes from first to last event
CREATE OR REPLACE TABLE analytics.dbt_session_duration
ENGINE=MergeTree
ORDER BY (dbt_visitor_id, session_id)
SETTINGS
  allow_nullable_key = 1 AS
SELECT
  s.dbt_visitor_id,
  s.session_id,
  CAST(toUnixTimestamp64Micro(toDateTime64(f.ended_at, 6, 'UTC')) - toUnixTimestamp64Micro(toDateTime64(s.session_start_at, 6, 'UTC')) AS Nullable(Float64)) / 60000000 AS session_duration
FROM analytics.dbt_session_tracks AS s
INNER JOIN analytics.dbt_session_track_facts AS f
  ON f.session_id = s.session_id;
