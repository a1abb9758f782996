{# journey-sql <version>: the source read once: every row, ranked among its id's deliveries, why it is left out. Written by `journey-sql dbt --out DIR --dialect snowflake`;
   regenerate with the same command and --force rather than edit. The settings are the vars in
   dbt_project.yml, checked by journey_sql_check_settings(); the materialization is set there too. #}
{{ journey_sql_check_settings() }}
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
    src.received_at,
    ROW_NUMBER() OVER (
      PARTITION BY src.id
      ORDER BY src.received_at ASC, src.timestamp ASC, src.event ASC, src.anonymous_id ASC, src.user_id ASC
    ) AS delivery_rank
  FROM {{ source('rudder', 'tracks') }} AS src
) AS r
