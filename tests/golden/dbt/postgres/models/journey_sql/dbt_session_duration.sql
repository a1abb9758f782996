{# journey-sql <version>: per session: exact minutes from first to last event. Written by `journey-sql dbt --out DIR --dialect postgres`;
   regenerate with the same command and --force rather than edit. The settings are the vars in
   dbt_project.yml, checked by journey_sql_check_settings(); the materialization is set there too. #}
{{ journey_sql_check_settings() }}
-- depends_on: {{ ref('dbt_aliases_mapping') }}
-- depends_on: {{ ref('dbt_mapped_tracks') }}
{% if journey_sql_continues_run() %}
-- journey_sql: run
DELETE FROM {{ this }}
WHERE
  session_id IN (
    SELECT
      k.session_id
    FROM {{ journey_sql_work('jsql_stale_sessions__jsql_delta') }} AS k
  )
-- journey_sql: next statement
-- journey_sql: run
INSERT INTO {{ this }} (
  dbt_visitor_id,
  session_id,
  session_duration
)
SELECT
  d.dbt_visitor_id,
  d.session_id,
  d.session_duration
FROM {{ journey_sql_work('dbt_session_duration__jsql_delta') }} AS d
{% else %}
SELECT
  s.dbt_visitor_id,
  s.session_id,
  CAST(CAST(EXTRACT(EPOCH FROM f.ended_at) * 1000000 AS BIGINT) - CAST(EXTRACT(EPOCH FROM s.session_start_at) * 1000000 AS BIGINT) AS DOUBLE PRECISION) / 60000000 AS session_duration
FROM {{ ref('dbt_session_tracks') }} AS s
INNER JOIN {{ ref('dbt_session_track_facts') }} AS f
  ON f.session_id = s.session_id
{% endif %}
