{# journey-sql <version>: identity stitching. Written by `journey-sql dbt --out DIR --dialect snowflake`;
   regenerate with the same command and --force rather than edit. The settings are the vars in
   dbt_project.yml, checked by journey_sql_check_settings(); the materialization is set there too. #}
{{ journey_sql_check_settings() }}
WITH events AS (
  SELECT
    e.id,
    e.anonymous_id,
    e.user_id,
    e.event,
    e.timestamp
  FROM {{ ref('jsql_events') }} AS e
  WHERE
    e.left_out IS NULL
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
  u.alias IS NULL
