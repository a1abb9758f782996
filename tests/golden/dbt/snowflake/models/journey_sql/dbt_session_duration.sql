{# journey-sql <version>: per session: exact minutes from first to last event. Written by `journey-sql dbt --out DIR --dialect snowflake`;
   regenerate with the same command and --force rather than edit. The settings are the vars in
   dbt_project.yml, checked by journey_sql_check_settings(); the materialization is set there too. #}
{{ journey_sql_check_settings() }}
SELECT
  s.dbt_visitor_id,
  s.session_id,
  CAST(DATE_PART(EPOCH_MICROSECOND, f.ended_at) - DATE_PART(EPOCH_MICROSECOND, s.session_start_at) AS DOUBLE) / 60000000 AS session_duration
FROM {{ ref('dbt_session_tracks') }} AS s
INNER JOIN {{ ref('dbt_session_track_facts') }} AS f
  ON f.session_id = s.session_id
