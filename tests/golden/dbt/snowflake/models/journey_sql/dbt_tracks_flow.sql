{# journey-sql <version>: each event with the events that follow it. Written by `journey-sql dbt --out DIR --dialect snowflake`;
   regenerate with the same command and --force rather than edit. The settings are the vars in
   dbt_project.yml, checked by journey_sql_check_settings(); the materialization is set there too. #}
{{ journey_sql_check_settings() }}
SELECT
  f.event_id,
  f.session_id,
  f.track_sequence_number,
  f.event,
  f.dbt_visitor_id,
  f.timestamp,
  CASE
    WHEN LEAD(f.track_sequence_number, 1) OVER (PARTITION BY f.dbt_visitor_id ORDER BY f.timestamp ASC, f.event_id ASC) = f.track_sequence_number + 1
    THEN LEAD(f.event, 1) OVER (PARTITION BY f.dbt_visitor_id ORDER BY f.timestamp ASC, f.event_id ASC)
  END AS event_2,
  CASE
    WHEN LEAD(f.track_sequence_number, 2) OVER (PARTITION BY f.dbt_visitor_id ORDER BY f.timestamp ASC, f.event_id ASC) = f.track_sequence_number + 2
    THEN LEAD(f.event, 2) OVER (PARTITION BY f.dbt_visitor_id ORDER BY f.timestamp ASC, f.event_id ASC)
  END AS event_3,
  CASE
    WHEN LEAD(f.track_sequence_number, 3) OVER (PARTITION BY f.dbt_visitor_id ORDER BY f.timestamp ASC, f.event_id ASC) = f.track_sequence_number + 3
    THEN LEAD(f.event, 3) OVER (PARTITION BY f.dbt_visitor_id ORDER BY f.timestamp ASC, f.event_id ASC)
  END AS event_4,
  CASE
    WHEN LEAD(f.track_sequence_number, 4) OVER (PARTITION BY f.dbt_visitor_id ORDER BY f.timestamp ASC, f.event_id ASC) = f.track_sequence_number + 4
    THEN LEAD(f.event, 4) OVER (PARTITION BY f.dbt_visitor_id ORDER BY f.timestamp ASC, f.event_id ASC)
  END AS event_5
FROM {{ ref('dbt_track_facts') }} AS f
