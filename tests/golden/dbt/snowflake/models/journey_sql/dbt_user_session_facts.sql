{# journey-sql <version>: per visitor: first and last session start, number of sessions. Written by `journey-sql dbt --out DIR --dialect snowflake`;
   regenerate with the same command and --force rather than edit. The settings are the vars in
   dbt_project.yml, checked by journey_sql_check_settings(); the materialization is set there too. #}
{{ journey_sql_check_settings() }}
SELECT
  s.dbt_visitor_id,
  MIN(s.session_start_at) AS first_date,
  MAX(s.session_start_at) AS last_date,
  COUNT(*) AS number_of_sessions
FROM {{ ref('dbt_session_tracks') }} AS s
GROUP BY
  s.dbt_visitor_id
