{# Written by journey-sql <version> (`journey-sql dbt --out DIR --dialect snowflake`): what this project was compiled
   for. Regenerate rather than edit. #}
{% macro journey_sql_settings() %}
  {{ return({"session_timeout": 30.0, "depth": 5, "count_events": ["Order Completed", "it's {{ \u00c4rger }} {% raw %}"], "lookback_seconds": 86400}) }}
{% endmacro %}

{# what jsql_state must say for a run to continue the last build (in jsql_state's column order) #}
{% macro journey_sql_expected_state() %}
  {{ return({"semantics_version": 1, "session_timeout_us": 1800000000, "depth": 5, "count_events": "[\"Order Completed\", \"it's {{ \u00c4rger }} {% raw %}\"]", "source_hash": "25fbfa4782b67eb0"}) }}
{% endmacro %}

{% macro journey_sql_models() %}
  {{ return(["jsql_events", "dbt_aliases_mapping", "dbt_mapped_tracks", "dbt_session_tracks", "dbt_track_facts", "dbt_tracks_flow", "dbt_session_track_facts", "dbt_session_duration", "dbt_user_session_facts", "jsql_state"]) }}
{% endmacro %}

{% macro journey_sql_incremental_adapters() %}
  {{ return([]) }}
{% endmacro %}

{% macro journey_sql_cheap_count_adapters() %}
  {{ return(["duckdb", "snowflake", "bigquery", "databricks", "spark", "clickhouse"]) }}
{% endmacro %}

{% macro journey_sql_source_count_sql() %}
SELECT
  COUNT(*)
FROM {{ source('rudder', 'tracks') }}
{% endmacro %}

{% macro journey_sql_work_tables() %}
  {{ return(["jsql_new_rows__jsql_delta", "jsql_changed_aliases__jsql_delta", "jsql_read_aliases__jsql_delta", "jsql_alias_events__jsql_delta", "jsql_visitor_changes__jsql_delta", "jsql_changed_visitors__jsql_delta", "jsql_stale_sessions__jsql_delta", "jsql_visitor_aliases__jsql_delta", "jsql_visitor_events__jsql_delta", "jsql_events__jsql_delta", "dbt_aliases_mapping__jsql_delta", "dbt_mapped_tracks__jsql_delta", "dbt_session_tracks__jsql_delta", "dbt_track_facts__jsql_delta", "dbt_tracks_flow__jsql_delta", "dbt_session_track_facts__jsql_delta", "dbt_session_duration__jsql_delta", "dbt_user_session_facts__jsql_delta", "jsql_run__jsql_delta"]) }}
{% endmacro %}

{% macro journey_sql_marker() %}
  {{ return("jsql_run__jsql_delta") }}
{% endmacro %}

{% macro journey_sql_command() %}
  {{ return("journey-sql dbt --out DIR --dialect snowflake") }}
{% endmacro %}
