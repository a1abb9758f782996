
CREATE SCHEMA IF NOT EXISTS analytics;

-- dbt_mapped_tracks: events with visitor and idle time
DROP TABLE IF EXISTS analytics.dbt_mapped_tracks;
CREATE TABLE analytics.dbt_mapped_tracks
USING PARQUET AS
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
  CAST(UNIX_MICROS(e.timestamp) - LAG(UNIX_MICROS(e.timestamp)) OVER (
    PARTITION BY m.dbt_visitor_id
    ORDER BY e.timestamp ASC NULLS LAST, e.id ASC NULLS LAST
  ) AS DOUBLE) / 60000000 AS idle_time_minutes
FROM events AS e
INNER JOIN analytics.dbt_aliases_mapping AS m
  ON m.alias = COALESCE(e.user_id, e.anonymous_id);
