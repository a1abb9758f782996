
-- dbt_aliases_mapping: identity stitching
CREATE OR REPLACE TABLE analytics.dbt_aliases_mapping AS
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
        ORDER BY r.received_at ASC, r.timestamp ASC, r.event ASC, r.anonymous_id ASC, r.user_id ASC
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
), user_ids AS (
  SELECT DISTINCT
    e.user_id AS alias
  FROM events AS e
  WHERE
    NOT e.user_id IS NULL
), anonymous_ids AS (
  SELECT DISTINCT
    e.anonymous_id AS alias
  FROM events AS e
  WHERE
    NOT e.anonymous_id IS NULL
), latest_identification AS (
  SELECT
    ranked.anonymous_id,
    ranked.user_id
  FROM (
    SELECT
      e.anonymous_id,
      e.user_id,
      ROW_NUMBER() OVER (
        PARTITION BY e.anonymous_id
        ORDER BY e.timestamp DESC NULLS LAST, e.id DESC NULLS LAST
      ) AS recency
    FROM events AS e
    WHERE
      NOT e.anonymous_id IS NULL AND NOT e.user_id IS NULL
  ) AS ranked
  WHERE
    ranked.recency = 1
)
SELECT
  u.alias,
  u.alias AS dbt_visitor_id
FROM user_ids AS u
UNION ALL
SELECT
  a.alias,
  COALESCE(l.user_id, a.alias) AS dbt_visitor_id
FROM anonymous_ids AS a
LEFT JOIN latest_identification AS l
  ON l.anonymous_id = a.alias
LEFT JOIN user_ids AS u
  ON u.alias = a.alias
WHERE
  u.alias IS NULL;
