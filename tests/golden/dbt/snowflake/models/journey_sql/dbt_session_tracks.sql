{# journey-sql <version>: sessions. Written by `journey-sql dbt --out DIR --dialect snowflake`;
   regenerate with the same command and --force rather than edit. The settings are the vars in
   dbt_project.yml, checked by journey_sql_check_settings(); the materialization is set there too. #}
{{ journey_sql_check_settings() }}
WITH session_starts AS (
  SELECT
    t.dbt_visitor_id,
    t.timestamp,
    t.event_id
  FROM {{ ref('dbt_mapped_tracks') }} AS t
  WHERE
    (
      t.idle_time_minutes IS NULL
      OR t.idle_time_minutes > CAST(1800000000 AS DOUBLE) / 60000000
    )
), numbered AS (
  SELECT
    s.dbt_visitor_id,
    s.timestamp AS session_start_at,
    ROW_NUMBER() OVER (PARTITION BY s.dbt_visitor_id ORDER BY s.timestamp ASC, s.event_id ASC) AS session_sequence_number,
    LEAD(s.timestamp) OVER (PARTITION BY s.dbt_visitor_id ORDER BY s.timestamp ASC, s.event_id ASC) AS next_session_start_at
  FROM session_starts AS s
)
SELECT
  CAST(n.session_sequence_number AS VARCHAR) || ' - ' || n.dbt_visitor_id AS session_id,
  n.dbt_visitor_id,
  n.session_start_at,
  n.session_sequence_number,
  n.next_session_start_at
FROM numbered AS n
