
CREATE DATABASE IF NOT EXISTS analytics;

-- dbt_mapped_tracks: events with visitor and idle time
CREATE OR REPLACE TABLE analytics.dbt_mapped_tracks
ENGINE=MergeTree
ORDER BY (dbt_visitor_id, timestamp, event_id)
SETTINGS
  allow_nullable_key = 1 AS
WITH events AS (
  SELECT
    e.id,
    e.anonymous_id,
    e.user_id,
    e.event,
    e.timestamp
  FROM analytics.jsql_events AS e
  WHERE
    e.left_out IS NULL
)
SELECT
  e.id AS event_id,
  e.anonymous_id,
  m.dbt_visitor_id,
  e.timestamp,
  e.event,
  CAST(toUnixTimestamp64Micro(toDateTime64(e.timestamp, 6, 'UTC')) - lagInFrame(toNullable(toUnixTimestamp64Micro(toDateTime64(e.timestamp, 6, 'UTC')))) OVER (
    PARTITION BY m.dbt_visitor_id
    ORDER BY e.timestamp ASC, e.id ASC
    ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
  ) AS Nullable(Float64)) / 60000000 AS idle_time_minutes
FROM events AS e
INNER JOIN analytics.dbt_aliases_mapping AS m
  ON m.alias = COALESCE(e.user_id, e.anonymous_id);
