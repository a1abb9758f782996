
-- dbt_mapped_tracks: events with visitor and idle time
CREATE OR REPLACE TABLE analytics.dbt_mapped_tracks AS
WITH source_rows AS (
  SELECT
    src.id,
    src.anonymous_id,
    src.user_id,
    src.event,
    src.timestamp,
    src.received_at
  FROM rudder.tracks AS src
  WHERE
    NOT src.id IS NULL
), duplicate_ids AS (
  SELECT
    r.id
  FROM source_rows AS r
  GROUP BY
    r.id
  HAVING
    COUNT(*) > 1
), first_deliveries AS (
  SELECT
    ranked.id,
    ranked.anonymous_id,
    ranked.user_id,
    ranked.event,
    ranked.timestamp
  FROM (
    SELECT
      r.id,
      r.anonymous_id,
      r.user_id,
      r.event,
      r.timestamp,
      ROW_NUMBER() OVER (
        PARTITION BY r.id
        ORDER BY r.received_at ASC NULLS LAST, r.timestamp ASC NULLS LAST, r.event ASC NULLS LAST, r.anonymous_id ASC NULLS LAST, r.user_id ASC NULLS LAST
      ) AS delivery_rank
    FROM source_rows AS r
    INNER JOIN duplicate_ids AS d
      ON d.id = r.id
  ) AS ranked
  WHERE
    ranked.delivery_rank = 1
), unique_deliveries AS (
  SELECT
    r.id,
    r.anonymous_id,
    r.user_id,
    r.event,
    r.timestamp
  FROM source_rows AS r
  LEFT JOIN duplicate_ids AS d
    ON d.id = r.id
  WHERE
    d.id IS NULL
), events AS (
  SELECT
    u.id,
    u.anonymous_id,
    u.user_id,
    u.event,
    u.timestamp
  FROM (
    SELECT
      f.id,
      f.anonymous_id,
      f.user_id,
      f.event,
      f.timestamp
    FROM first_deliveries AS f
    UNION ALL
    SELECT
      o.id,
      o.anonymous_id,
      o.user_id,
      o.event,
      o.timestamp
    FROM unique_deliveries AS o
  ) AS u
  WHERE
    NOT u.timestamp IS NULL
    AND (
      NOT u.user_id IS NULL OR NOT u.anonymous_id IS NULL
    )
)
SELECT
  e.id AS event_id,
  e.anonymous_id,
  m.dbt_visitor_id,
  e.timestamp,
  e.event,
  CAST(UNIX_MICROS(CAST(e.timestamp AS TIMESTAMP)) - LAG(UNIX_MICROS(CAST(e.timestamp AS TIMESTAMP))) OVER (
    PARTITION BY m.dbt_visitor_id
    ORDER BY e.timestamp ASC NULLS LAST, e.id ASC NULLS LAST
  ) AS FLOAT64) / 60000000 AS idle_time_minutes
FROM events AS e
INNER JOIN analytics.dbt_aliases_mapping AS m
  ON m.alias = COALESCE(e.user_id, e.anonymous_id);
