{# journey-sql <version>: sessions. Written by `journey-sql dbt --out DIR --dialect duckdb`;
   regenerate with the same command and --force rather than edit. The settings are the vars in
   dbt_project.yml, checked by journey_sql_check_settings(); the materialization is set there too. #}
{{ journey_sql_check_settings() }}
-- depends_on: {{ ref('dbt_aliases_mapping') }}
-- depends_on: {{ ref('dbt_mapped_tracks') }}
{% if journey_sql_continues_run() %}
-- journey_sql: run
DELETE FROM {{ this }} USING   {{ journey_sql_work('jsql_changed_visitors__jsql_delta') }} AS v
WHERE
  {{ this.include(database=False, schema=False) }}.dbt_visitor_id = v.dbt_visitor_id
  AND (
    v.context_from IS NULL OR {{ this.include(database=False, schema=False) }}.session_start_at >= v.context_from
  )
-- journey_sql: next statement
-- journey_sql: run
INSERT INTO {{ this }} (
  session_id,
  dbt_visitor_id,
  session_start_at,
  session_sequence_number,
  next_session_start_at
)
SELECT
  d.session_id,
  d.dbt_visitor_id,
  d.session_start_at,
  d.session_sequence_number,
  d.next_session_start_at
FROM {{ journey_sql_work('dbt_session_tracks__jsql_delta') }} AS d
INNER JOIN {{ journey_sql_work('jsql_changed_visitors__jsql_delta') }} AS v
  ON v.dbt_visitor_id = d.dbt_visitor_id
WHERE
  v.context_from IS NULL OR d.session_start_at >= v.context_from
{% else %}
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
  CAST(n.session_sequence_number AS TEXT) || ' - ' || n.dbt_visitor_id AS session_id,
  n.dbt_visitor_id,
  n.session_start_at,
  n.session_sequence_number,
  n.next_session_start_at
FROM numbered AS n
{% endif %}
