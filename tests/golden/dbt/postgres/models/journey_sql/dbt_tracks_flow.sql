{# journey-sql <version>: each event with the events that follow it. Written by `journey-sql dbt --out DIR --dialect postgres`;
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
  event_id,
  session_id,
  track_sequence_number,
  event,
  dbt_visitor_id,
  timestamp,
  event_2,
  event_3,
  event_4,
  event_5
)
SELECT
  d.event_id,
  d.session_id,
  d.track_sequence_number,
  d.event,
  d.dbt_visitor_id,
  d.timestamp,
  d.event_2,
  d.event_3,
  d.event_4,
  d.event_5
FROM {{ journey_sql_work('dbt_tracks_flow__jsql_delta') }} AS d
INNER JOIN {{ journey_sql_work('jsql_changed_visitors__jsql_delta') }} AS v
  ON v.dbt_visitor_id = d.dbt_visitor_id
WHERE
  v.rebuild_from IS NULL OR d.timestamp >= v.rebuild_from
{% else %}
SELECT
  f.event_id,
  f.session_id,
  f.track_sequence_number,
  f.event,
  f.dbt_visitor_id,
  f.timestamp,
  CASE
    WHEN LEAD(f.track_sequence_number, 1) OVER (
      PARTITION BY f.dbt_visitor_id
      ORDER BY f.timestamp ASC, f.event_id COLLATE "C" ASC
    ) = f.track_sequence_number + 1
    THEN LEAD(f.event, 1) OVER (
      PARTITION BY f.dbt_visitor_id
      ORDER BY f.timestamp ASC, f.event_id COLLATE "C" ASC
    )
  END AS event_2,
  CASE
    WHEN LEAD(f.track_sequence_number, 2) OVER (
      PARTITION BY f.dbt_visitor_id
      ORDER BY f.timestamp ASC, f.event_id COLLATE "C" ASC
    ) = f.track_sequence_number + 2
    THEN LEAD(f.event, 2) OVER (
      PARTITION BY f.dbt_visitor_id
      ORDER BY f.timestamp ASC, f.event_id COLLATE "C" ASC
    )
  END AS event_3,
  CASE
    WHEN LEAD(f.track_sequence_number, 3) OVER (
      PARTITION BY f.dbt_visitor_id
      ORDER BY f.timestamp ASC, f.event_id COLLATE "C" ASC
    ) = f.track_sequence_number + 3
    THEN LEAD(f.event, 3) OVER (
      PARTITION BY f.dbt_visitor_id
      ORDER BY f.timestamp ASC, f.event_id COLLATE "C" ASC
    )
  END AS event_4,
  CASE
    WHEN LEAD(f.track_sequence_number, 4) OVER (
      PARTITION BY f.dbt_visitor_id
      ORDER BY f.timestamp ASC, f.event_id COLLATE "C" ASC
    ) = f.track_sequence_number + 4
    THEN LEAD(f.event, 4) OVER (
      PARTITION BY f.dbt_visitor_id
      ORDER BY f.timestamp ASC, f.event_id COLLATE "C" ASC
    )
  END AS event_5
FROM {{ ref('dbt_track_facts') }} AS f
{% endif %}
