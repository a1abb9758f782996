
CREATE SCHEMA IF NOT EXISTS analytics;

-- jsql_events: the source read once: one row per event id, its deliveries, why it is left out
CREATE OR REPLACE TABLE analytics.jsql_events AS
SELECT
  r.id,
  r.anonymous_id,
  r.user_id,
  r.event,
  r.timestamp,
  r.deliveries,
  CASE
    WHEN r.id IS NULL
    THEN 'no id'
    WHEN NOT (
      NOT r.timestamp IS NULL
    )
    THEN 'no timestamp'
    WHEN r.user_id IS NULL AND r.anonymous_id IS NULL
    THEN 'no identity'
  END AS left_out
FROM (
  SELECT
    src.id,
    src.anonymous_id,
    src.user_id,
    src.event,
    src.timestamp,
    ROW_NUMBER() OVER (
      PARTITION BY src.id
      ORDER BY src.received_at ASC NULLS LAST, src.timestamp ASC NULLS LAST, src.event ASC NULLS LAST, src.anonymous_id ASC NULLS LAST, src.user_id ASC NULLS LAST
    ) AS delivery_rank,
    COUNT(*) OVER (
      PARTITION BY src.id
      ORDER BY src.received_at ASC, src.timestamp ASC, src.event ASC, src.anonymous_id ASC, src.user_id ASC
      ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
    ) AS deliveries
  FROM rudder.tracks AS src
) AS r
WHERE
  r.delivery_rank = 1;
