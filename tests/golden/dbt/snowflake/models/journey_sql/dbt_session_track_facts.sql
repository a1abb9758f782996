{# journey-sql <version>: per session: last event and event counts. Written by `journey-sql dbt --out DIR --dialect snowflake`;
   regenerate with the same command and --force rather than edit. The settings are the vars in
   dbt_project.yml, checked by journey_sql_check_settings(); the materialization is set there too. #}
{{ journey_sql_check_settings() }}
SELECT
  f.session_id,
  MAX(f.timestamp) AS ended_at,
  COUNT(*) AS num_pvs,
  CAST(SUM(CASE WHEN f.event = 'Order Completed' THEN 1 ELSE 0 END) AS BIGINT) AS cnt_order_completed,
  CAST(SUM(CASE WHEN f.event = 'it\'s {{ '{{' }} Ärger }} {{ '{%' }} raw %}' THEN 1 ELSE 0 END) AS BIGINT) AS cnt_it_s_rger_raw
FROM {{ ref('dbt_track_facts') }} AS f
GROUP BY
  f.session_id
