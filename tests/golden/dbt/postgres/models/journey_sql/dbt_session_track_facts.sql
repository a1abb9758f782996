{# journey-sql <version>: per session: last event and event counts. Written by `journey-sql dbt --out DIR --dialect postgres`;
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
  session_id,
  ended_at,
  num_pvs,
  cnt_order_completed,
  cnt_it_s_rger_raw
)
SELECT
  d.session_id,
  d.ended_at,
  d.num_pvs,
  d.cnt_order_completed,
  d.cnt_it_s_rger_raw
FROM {{ journey_sql_work('dbt_session_track_facts__jsql_delta') }} AS d
{% else %}
SELECT
  f.session_id,
  MAX(f.timestamp) AS ended_at,
  COUNT(*) AS num_pvs,
  CAST(SUM(CASE WHEN f.event = 'Order Completed' THEN 1 ELSE 0 END) AS BIGINT) AS cnt_order_completed,
  CAST(SUM(CASE WHEN f.event = 'it''s {{ '{{' }} Ärger }} {{ '{%' }} raw %}' THEN 1 ELSE 0 END) AS BIGINT) AS cnt_it_s_rger_raw
FROM {{ ref('dbt_track_facts') }} AS f
GROUP BY
  f.session_id
{% endif %}
