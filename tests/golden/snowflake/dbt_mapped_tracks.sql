
CREATE SCHEMA IF NOT EXISTS analytics;

-- dbt_mapped_tracks: events with visitor and idle time
CREATE OR REPLACE TABLE analytics.dbt_mapped_tracks AS
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
  CAST(DATE_PART(EPOCH_MICROSECOND, e.timestamp) - LAG(DATE_PART(EPOCH_MICROSECOND, e.timestamp)) OVER (PARTITION BY m.dbt_visitor_id ORDER BY e.timestamp ASC, e.id ASC) AS DOUBLE) / 60000000 AS idle_time_minutes
FROM events AS e
INNER JOIN analytics.dbt_aliases_mapping AS m
  ON m.alias = COALESCE(e.user_id, e.anonymous_id);
