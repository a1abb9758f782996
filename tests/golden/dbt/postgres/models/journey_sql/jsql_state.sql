{# journey-sql <version>: what this build was made from: settings, semantics version, newest received_at processed. Written by `journey-sql dbt --out DIR --dialect postgres`;
   regenerate with the same command and --force rather than edit. The settings are the vars in
   dbt_project.yml, checked by journey_sql_check_settings(); the materialization is set there too. #}
{{ journey_sql_check_settings() }}
-- depends_on: {{ ref('dbt_aliases_mapping') }}
-- depends_on: {{ ref('dbt_mapped_tracks') }}
-- depends_on: {{ ref('dbt_session_tracks') }}
-- depends_on: {{ ref('dbt_track_facts') }}
-- depends_on: {{ ref('dbt_tracks_flow') }}
-- depends_on: {{ ref('dbt_session_track_facts') }}
-- depends_on: {{ ref('dbt_session_duration') }}
-- depends_on: {{ ref('dbt_user_session_facts') }}
SELECT
  CAST(1 AS INT) AS semantics_version,
  '<version>' AS journey_sql_version,
  CAST(1800000000 AS BIGINT) AS session_timeout_us,
  CAST(5 AS INT) AS depth,
  '["Order Completed", "it''s {{ '{{' }} Ärger }} {{ '{%' }} raw %}"]' AS count_events,
  '25fbfa4782b67eb0' AS source_hash,
  MAX(CASE WHEN ISFINITE(e.received_at) THEN e.received_at END) AS watermark,
  COUNT(*) AS rows_processed
FROM {{ ref('jsql_events') }} AS e
