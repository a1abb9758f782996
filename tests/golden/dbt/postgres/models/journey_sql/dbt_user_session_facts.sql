{# journey-sql <version>: per visitor: first and last session start, number of sessions. Written by `journey-sql dbt --out DIR --dialect postgres`;
   regenerate with the same command and --force rather than edit. The settings are the vars in
   dbt_project.yml, checked by journey_sql_check_settings(); the materialization is set there too. #}
{{ journey_sql_check_settings() }}
-- depends_on: {{ ref('dbt_aliases_mapping') }}
-- depends_on: {{ ref('dbt_mapped_tracks') }}
{% if journey_sql_continues_run() %}
-- journey_sql: run
DELETE FROM {{ this }}
WHERE
  dbt_visitor_id IN (
    SELECT
      k.dbt_visitor_id
    FROM {{ journey_sql_work('jsql_changed_visitors__jsql_delta') }} AS k
  )
-- journey_sql: next statement
-- journey_sql: run
INSERT INTO {{ this }} (
  dbt_visitor_id,
  first_date,
  last_date,
  number_of_sessions
)
SELECT
  d.dbt_visitor_id,
  d.first_date,
  d.last_date,
  d.number_of_sessions
FROM {{ journey_sql_work('dbt_user_session_facts__jsql_delta') }} AS d
{% else %}
SELECT
  s.dbt_visitor_id,
  MIN(s.session_start_at) AS first_date,
  MAX(s.session_start_at) AS last_date,
  COUNT(*) AS number_of_sessions
FROM {{ ref('dbt_session_tracks') }} AS s
GROUP BY
  s.dbt_visitor_id
{% endif %}
