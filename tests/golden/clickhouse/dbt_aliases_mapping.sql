
CREATE DATABASE IF NOT EXISTS analytics;

-- dbt_aliases_mapping: identity stitching
CREATE OR REPLACE TABLE analytics.dbt_aliases_mapping
ENGINE=MergeTree
ORDER BY alias
SETTINGS
  allow_nullable_key = 1 AS
WITH duplicate_ids AS (
  SELECT
    src.id
  FROM rudder.tracks AS src
  WHERE
    NOT (
      src.id IS NULL
    )
  GROUP BY
    src.id
  HAVING
    COUNT(*) > 1
), events AS (
  SELECT
    u.id,
    u.anonymous_id,
    u.user_id,
    u.event,
    u.timestamp
  FROM (
    SELECT
      ranked.id,
      ranked.anonymous_id,
      ranked.user_id,
      ranked.event,
      ranked.timestamp
    FROM (
      SELECT
        src.id,
        src.anonymous_id,
        src.user_id,
        src.event,
        src.timestamp,
        ROW_NUMBER() OVER (
          PARTITION BY src.id
          ORDER BY src.received_at ASC, src.timestamp ASC, src.event ASC, src.anonymous_id ASC, src.user_id ASC
        ) AS delivery_rank
      FROM rudder.tracks AS src
      INNER JOIN duplicate_ids AS d
        ON d.id = src.id
    ) AS ranked
    WHERE
      ranked.delivery_rank = 1
    UNION ALL
    SELECT
      src.id,
      src.anonymous_id,
      src.user_id,
      src.event,
      src.timestamp
    FROM rudder.tracks AS src
    LEFT JOIN duplicate_ids AS d
      ON d.id = src.id
    WHERE
      NOT (
        src.id IS NULL
      ) AND d.id IS NULL
  ) AS u
  WHERE
    NOT (
      u.timestamp IS NULL
    )
    AND (
      NOT (
        u.user_id IS NULL
      ) OR NOT (
        u.anonymous_id IS NULL
      )
    )
), user_ids AS (
  SELECT DISTINCT
    e.user_id AS alias
  FROM events AS e
  WHERE
    NOT (
      e.user_id IS NULL
    )
), anonymous_ids AS (
  SELECT DISTINCT
    e.anonymous_id AS alias
  FROM events AS e
  WHERE
    NOT (
      e.anonymous_id IS NULL
    )
), latest_identification AS (
  SELECT
    ranked.anonymous_id,
    ranked.user_id
  FROM (
    SELECT
      e.anonymous_id,
      e.user_id,
      ROW_NUMBER() OVER (PARTITION BY e.anonymous_id ORDER BY e.timestamp DESC, e.id DESC) AS recency
    FROM events AS e
    WHERE
      NOT (
        e.anonymous_id IS NULL
      ) AND NOT (
        e.user_id IS NULL
      )
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
  u.alias IS NULL
SETTINGS join_use_nulls = 1;
