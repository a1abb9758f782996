{# journey-sql <version>: events with session and sequence number. Written by `journey-sql dbt --out DIR --dialect postgres`;
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
    v.rebuild_from IS NULL OR {{ this.include(database=False, schema=False) }}.timestamp >= v.rebuild_from
  )
-- journey_sql: next statement
-- journey_sql: run
INSERT INTO {{ this }} (
  anonymous_id,
  timestamp,
  event_id,
  event,
  session_id,
  dbt_visitor_id,
  track_sequence_number
)
SELECT
  d.anonymous_id,
  d.timestamp,
  d.event_id,
  d.event,
  d.session_id,
  d.dbt_visitor_id,
  d.track_sequence_number
FROM {{ journey_sql_work('dbt_track_facts__jsql_delta') }} AS d
INNER JOIN {{ journey_sql_work('jsql_changed_visitors__jsql_delta') }} AS v
  ON v.dbt_visitor_id = d.dbt_visitor_id
WHERE
  v.rebuild_from IS NULL OR d.timestamp >= v.rebuild_from
{% else %}
WITH flagged AS (
  SELECT
    t.anonymous_id,
    t.timestamp,
    t.event_id,
    t.event,
    t.dbt_visitor_id,
    CASE
      WHEN (
        t.idle_time_minutes IS NULL
        OR t.idle_time_minutes > CAST(1800000000 AS DOUBLE PRECISION) / 60000000
      )
      THEN 1
      ELSE 0
    END AS opens_session
  FROM {{ ref('dbt_mapped_tracks') }} AS t
), numbered AS (
  SELECT
    f.anonymous_id,
    f.timestamp,
    f.event_id,
    f.event,
    f.dbt_visitor_id,
    f.opens_session,
    CAST(SUM(f.opens_session) OVER (
      PARTITION BY f.dbt_visitor_id
      ORDER BY f.timestamp ASC, f.event_id COLLATE "C" ASC
      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    ) AS BIGINT) AS session_sequence_number,
    ROW_NUMBER() OVER (
      PARTITION BY f.dbt_visitor_id
      ORDER BY f.timestamp ASC, f.event_id COLLATE "C" ASC
    ) AS visitor_event_number
  FROM flagged AS f
), session_openings AS (
  SELECT
    n.dbt_visitor_id,
    n.session_sequence_number,
    n.visitor_event_number AS opening_number
  FROM numbered AS n
  WHERE
    n.opens_session = 1
)
SELECT
  n.anonymous_id,
  n.timestamp,
  n.event_id,
  n.event,
  CAST(n.session_sequence_number AS TEXT) || ' - ' || n.dbt_visitor_id AS session_id,
  n.dbt_visitor_id,
  n.visitor_event_number - o.opening_number + 1 AS track_sequence_number
FROM numbered AS n
INNER JOIN session_openings AS o
  ON o.dbt_visitor_id = n.dbt_visitor_id
  AND o.session_sequence_number = n.session_sequence_number
{% endif %}
