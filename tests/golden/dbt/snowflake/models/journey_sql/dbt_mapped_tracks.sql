{# journey-sql <version>: events with visitor and idle time. Written by `journey-sql dbt --out DIR --dialect snowflake`;
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
)
SELECT
  e.id AS event_id,
  e.anonymous_id,
  m.dbt_visitor_id,
  e.timestamp,
  e.event,
  CAST(DATE_PART(EPOCH_MICROSECOND, e.timestamp) - LAG(DATE_PART(EPOCH_MICROSECOND, e.timestamp)) OVER (PARTITION BY m.dbt_visitor_id ORDER BY e.timestamp ASC, e.id ASC) AS DOUBLE) / 60000000 AS idle_time_minutes
FROM events AS e
INNER JOIN {{ ref('dbt_aliases_mapping') }} AS m
  ON m.alias = COALESCE(e.user_id, e.anonymous_id)
