{# journey-sql <version>: events with visitor and idle time. Written by `journey-sql dbt --out DIR --dialect duckdb`;
   regenerate with the same command and --force rather than edit. The settings are the vars in
   dbt_project.yml, checked by journey_sql_check_settings(); the materialization is set there too. #}
{{ journey_sql_check_settings() }}
-- depends_on: {{ ref('dbt_aliases_mapping') }}
-- depends_on: {{ ref('jsql_events') }}
{% if journey_sql_continues_run() %}
-- journey_sql: run
CREATE OR REPLACE TABLE {{ journey_sql_work('jsql_visitor_aliases__jsql_delta') }} AS
SELECT
  m.alias AS alias,
  m.dbt_visitor_id AS dbt_visitor_id,
  CASE WHEN r.alias IS NULL THEN 0 ELSE 1 END AS is_read
FROM {{ journey_sql_relation('dbt_aliases_mapping') }} AS m
LEFT JOIN {{ journey_sql_work('jsql_read_aliases__jsql_delta') }} AS r
  ON r.alias = m.alias
WHERE
  m.dbt_visitor_id IN (
    SELECT
      v.dbt_visitor_id
    FROM {{ journey_sql_work('jsql_changed_visitors__jsql_delta') }} AS v
  )
-- journey_sql: next statement
-- journey_sql: run
CREATE OR REPLACE TABLE {{ journey_sql_work('jsql_visitor_events__jsql_delta') }} AS
WITH aliases AS (
  SELECT
    m.alias AS alias,
    m.is_read AS is_read,
    v.dbt_visitor_id AS dbt_visitor_id,
    v.context_from AS context_from
  FROM {{ journey_sql_work('jsql_visitor_aliases__jsql_delta') }} AS m
  INNER JOIN {{ journey_sql_work('jsql_changed_visitors__jsql_delta') }} AS v
    ON v.dbt_visitor_id = m.dbt_visitor_id
), unread AS NOT MATERIALIZED (
  SELECT
    a.alias,
    a.dbt_visitor_id,
    a.context_from
  FROM aliases AS a
  WHERE
    a.is_read = 0
), events AS (
  SELECT
    e.id,
    e.anonymous_id,
    e.user_id,
    e.event,
    e.timestamp,
    e.received_at,
    e.delivery_rank,
    e.left_out,
    a.dbt_visitor_id AS dbt_visitor_id,
    a.context_from AS context_from
  FROM {{ journey_sql_work('jsql_alias_events__jsql_delta') }} AS e
  INNER JOIN aliases AS a
    ON a.alias = COALESCE(e.user_id, e.anonymous_id)
  WHERE
    a.is_read = 1
  UNION ALL
  SELECT
    e.id,
    e.anonymous_id,
    e.user_id,
    e.event,
    e.timestamp,
    e.received_at,
    e.delivery_rank,
    e.left_out,
    a.dbt_visitor_id AS dbt_visitor_id,
    a.context_from AS context_from
  FROM {{ journey_sql_relation('jsql_events') }} AS e
  INNER JOIN unread AS a
    ON a.alias = e.user_id
  WHERE
    e.left_out IS NULL
  UNION ALL
  SELECT
    e.id,
    e.anonymous_id,
    e.user_id,
    e.event,
    e.timestamp,
    e.received_at,
    e.delivery_rank,
    e.left_out,
    a.dbt_visitor_id AS dbt_visitor_id,
    a.context_from AS context_from
  FROM {{ journey_sql_relation('jsql_events') }} AS e
  INNER JOIN unread AS a
    ON a.alias = e.anonymous_id
  WHERE
    e.left_out IS NULL AND e.user_id IS NULL
), context_starts AS (
  SELECT
    s.dbt_visitor_id AS dbt_visitor_id,
    s.session_start_at AS session_start_at
  FROM {{ journey_sql_relation('dbt_session_tracks') }} AS s
  INNER JOIN {{ journey_sql_work('jsql_changed_visitors__jsql_delta') }} AS v
    ON v.dbt_visitor_id = s.dbt_visitor_id
  WHERE
    s.session_start_at < v.context_from
)
SELECT
  e.id,
  e.anonymous_id,
  e.user_id,
  e.event,
  e.timestamp,
  e.received_at,
  e.delivery_rank,
  e.left_out
FROM events AS e
LEFT JOIN context_starts AS o
  ON o.dbt_visitor_id = e.dbt_visitor_id AND o.session_start_at = e.timestamp
WHERE
  e.context_from IS NULL
  OR e.timestamp >= e.context_from
  OR NOT o.dbt_visitor_id IS NULL
-- journey_sql: next statement
-- journey_sql: run
CREATE OR REPLACE TABLE {{ journey_sql_work('dbt_mapped_tracks__jsql_delta') }} AS
WITH events AS (
  SELECT
    e.id,
    e.anonymous_id,
    e.user_id,
    e.event,
    e.timestamp
  FROM {{ journey_sql_work('jsql_visitor_events__jsql_delta') }} AS e
  WHERE
    e.left_out IS NULL
)
SELECT
  e.id AS event_id,
  e.anonymous_id,
  m.dbt_visitor_id,
  e.timestamp,
  e.event,
  CAST(EPOCH_US(e.timestamp) - LAG(EPOCH_US(e.timestamp)) OVER (PARTITION BY m.dbt_visitor_id ORDER BY e.timestamp ASC, e.id ASC) AS DOUBLE) / 60000000 AS idle_time_minutes
FROM events AS e
INNER JOIN {{ journey_sql_work('jsql_visitor_aliases__jsql_delta') }} AS m
  ON m.alias = COALESCE(e.user_id, e.anonymous_id)
-- journey_sql: next statement
-- journey_sql: run
CREATE OR REPLACE TABLE {{ journey_sql_work('dbt_session_tracks__jsql_delta') }} AS
WITH session_starts AS (
  SELECT
    t.dbt_visitor_id,
    t.timestamp,
    t.event_id
  FROM {{ journey_sql_work('dbt_mapped_tracks__jsql_delta') }} AS t
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
-- journey_sql: next statement
-- journey_sql: run
CREATE OR REPLACE TABLE {{ journey_sql_work('dbt_track_facts__jsql_delta') }} AS
SELECT
  r.anonymous_id AS anonymous_id,
  r.timestamp AS timestamp,
  r.event_id AS event_id,
  r.event AS event,
  r.session_id AS session_id,
  r.dbt_visitor_id AS dbt_visitor_id,
  r.track_sequence_number AS track_sequence_number
FROM (
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
          OR t.idle_time_minutes > CAST(1800000000 AS DOUBLE) / 60000000
        )
        THEN 1
        ELSE 0
      END AS opens_session
    FROM {{ journey_sql_work('dbt_mapped_tracks__jsql_delta') }} AS t
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
        ORDER BY f.timestamp ASC, f.event_id ASC
        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
      ) AS BIGINT) AS session_sequence_number,
      ROW_NUMBER() OVER (PARTITION BY f.dbt_visitor_id ORDER BY f.timestamp ASC, f.event_id ASC) AS visitor_event_number
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
) AS r
INNER JOIN {{ journey_sql_work('jsql_changed_visitors__jsql_delta') }} AS v
  ON v.dbt_visitor_id = r.dbt_visitor_id
WHERE
  v.rebuild_from IS NULL OR r.timestamp >= v.rebuild_from
-- journey_sql: next statement
-- journey_sql: run
CREATE OR REPLACE TABLE {{ journey_sql_work('dbt_tracks_flow__jsql_delta') }} AS
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
FROM {{ journey_sql_work('dbt_track_facts__jsql_delta') }} AS f
-- journey_sql: next statement
-- journey_sql: run
CREATE OR REPLACE TABLE {{ journey_sql_work('dbt_session_track_facts__jsql_delta') }} AS
SELECT
  f.session_id,
  MAX(f.timestamp) AS ended_at,
  COUNT(*) AS num_pvs,
  CAST(SUM(CASE WHEN f.event = 'Order Completed' THEN 1 ELSE 0 END) AS BIGINT) AS cnt_order_completed,
  CAST(SUM(CASE WHEN f.event = 'it''s {{ '{{' }} Ärger }} {{ '{%' }} raw %}' THEN 1 ELSE 0 END) AS BIGINT) AS cnt_it_s_rger_raw
FROM {{ journey_sql_work('dbt_track_facts__jsql_delta') }} AS f
GROUP BY
  f.session_id
-- journey_sql: next statement
-- journey_sql: run
CREATE OR REPLACE TABLE {{ journey_sql_work('dbt_session_duration__jsql_delta') }} AS
SELECT
  s.dbt_visitor_id,
  s.session_id,
  CAST(EPOCH_US(f.ended_at) - EPOCH_US(s.session_start_at) AS DOUBLE) / 60000000 AS session_duration
FROM {{ journey_sql_work('dbt_session_tracks__jsql_delta') }} AS s
INNER JOIN {{ journey_sql_work('dbt_session_track_facts__jsql_delta') }} AS f
  ON f.session_id = s.session_id
-- journey_sql: next statement
-- journey_sql: run
CREATE OR REPLACE TABLE {{ journey_sql_work('dbt_user_session_facts__jsql_delta') }} AS
SELECT
  s.dbt_visitor_id,
  MIN(s.session_start_at) AS first_date,
  MAX(s.session_start_at) AS last_date,
  COUNT(*) AS number_of_sessions
FROM {{ journey_sql_work('dbt_session_tracks__jsql_delta') }} AS s
GROUP BY
  s.dbt_visitor_id
-- journey_sql: next statement
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
  anonymous_id,
  dbt_visitor_id,
  timestamp,
  event,
  idle_time_minutes
)
SELECT
  d.event_id,
  d.anonymous_id,
  d.dbt_visitor_id,
  d.timestamp,
  d.event,
  d.idle_time_minutes
FROM {{ journey_sql_work('dbt_mapped_tracks__jsql_delta') }} AS d
INNER JOIN {{ journey_sql_work('jsql_changed_visitors__jsql_delta') }} AS v
  ON v.dbt_visitor_id = d.dbt_visitor_id
WHERE
  v.rebuild_from IS NULL OR d.timestamp >= v.rebuild_from
{% else %}
WITH events AS (
  SELECT
    e.id,
    e.anonymous_id,
    e.user_id,
    e.event,
    e.timestamp
  FROM {{ ref('jsql_events') }} AS e
  WHERE
    e.left_out IS NULL
)
SELECT
  e.id AS event_id,
  e.anonymous_id,
  m.dbt_visitor_id,
  e.timestamp,
  e.event,
  CAST(EPOCH_US(e.timestamp) - LAG(EPOCH_US(e.timestamp)) OVER (PARTITION BY m.dbt_visitor_id ORDER BY e.timestamp ASC, e.id ASC) AS DOUBLE) / 60000000 AS idle_time_minutes
FROM events AS e
INNER JOIN {{ ref('dbt_aliases_mapping') }} AS m
  ON m.alias = COALESCE(e.user_id, e.anonymous_id)
{% endif %}
