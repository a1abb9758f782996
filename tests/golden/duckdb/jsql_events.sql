BEGIN;

CREATE SCHEMA IF NOT EXISTS analytics;

-- jsql_events: the source read once: every row, ranked among its id's deliveries, why it is left out
CREATE OR REPLACE TABLE analytics.jsql_events AS
SELECT
  r.id,
  r.anonymous_id,
  r.user_id,
  r.event,
  r.timestamp,
  r.received_at,
  CASE WHEN NOT r.id IS NULL THEN r.delivery_rank END AS delivery_rank,
  CASE
    WHEN r.id IS NULL
    THEN 'no id'
    WHEN r.delivery_rank > 1
    THEN 'redelivery'
    WHEN NOT (
      NOT r.timestamp IS NULL AND ISFINITE(r.timestamp)
    )
    THEN 'no timestamp'
    WHEN r.user_id IS NULL AND r.anonymous_id IS NULL
    THEN 'no identity'
  END AS left_out
FROM (
  WITH jsql_repeated_ids AS (
    SELECT
      src.id AS repeated_id
    FROM rudder.tracks AS src
    GROUP BY
      src.id
    HAVING
      COUNT(*) > 1
  )
  SELECT
    src.id,
    src.anonymous_id,
    src.user_id,
    src.event,
    src.timestamp,
    src.received_at,
    1 AS delivery_rank
  FROM rudder.tracks AS src
  ANTI JOIN jsql_repeated_ids AS jsql_r
    ON jsql_r.repeated_id IS NOT DISTINCT FROM src.id
  UNION ALL
  SELECT
    src.id,
    src.anonymous_id,
    src.user_id,
    src.event,
    src.timestamp,
    src.received_at,
    ROW_NUMBER() OVER (
      PARTITION BY src.id
      ORDER BY src.received_at ASC, src.timestamp ASC, src.event ASC, src.anonymous_id ASC, src.user_id ASC
    ) AS delivery_rank
  FROM rudder.tracks AS src
  SEMI JOIN jsql_repeated_ids AS jsql_r
    ON jsql_r.repeated_id IS NOT DISTINCT FROM src.id
) AS r;

COMMIT;
