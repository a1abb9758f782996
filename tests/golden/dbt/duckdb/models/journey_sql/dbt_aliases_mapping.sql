{# journey-sql <version>: identity stitching. Written by `journey-sql dbt --out DIR --dialect duckdb`;
   regenerate with the same command and --force rather than edit. The settings are the vars in
   dbt_project.yml, checked by journey_sql_check_settings(); the materialization is set there too. #}
{{ journey_sql_check_settings() }}
-- depends_on: {{ ref('jsql_events') }}
{% if journey_sql_continues_run() %}
-- journey_sql: run
CREATE OR REPLACE TABLE {{ journey_sql_work('jsql_alias_events__jsql_delta') }} AS
SELECT
  e.id,
  e.anonymous_id,
  e.user_id,
  e.event,
  e.timestamp,
  e.received_at,
  e.delivery_rank,
  e.left_out
FROM {{ journey_sql_relation('jsql_events') }} AS e
WHERE
  e.left_out IS NULL
  AND (
    e.user_id IN (
      SELECT
        a.alias
      FROM {{ journey_sql_work('jsql_read_aliases__jsql_delta') }} AS a
    )
    OR e.anonymous_id IN (
      SELECT
        a.alias
      FROM {{ journey_sql_work('jsql_read_aliases__jsql_delta') }} AS a
    )
  )
-- journey_sql: next statement
-- journey_sql: run
CREATE OR REPLACE TABLE {{ journey_sql_work('dbt_aliases_mapping__jsql_delta') }} AS
SELECT
  m.alias,
  m.dbt_visitor_id
FROM (
  WITH events AS NOT MATERIALIZED (
    SELECT
      e.id,
      e.anonymous_id,
      e.user_id,
      e.event,
      e.timestamp
    FROM {{ journey_sql_work('jsql_alias_events__jsql_delta') }} AS e
    WHERE
      e.left_out IS NULL
  ), user_ids AS (
    SELECT DISTINCT
      e.user_id AS alias
    FROM events AS e
    WHERE
      NOT e.user_id IS NULL
  ), anonymous_ids AS (
    SELECT DISTINCT
      e.anonymous_id AS alias
    FROM events AS e
    WHERE
      NOT e.anonymous_id IS NULL
  ), latest_identification AS (
    SELECT
      ranked.anonymous_id,
      ranked.user_id
    FROM (
      SELECT
        e.anonymous_id,
        e.user_id,
        ROW_NUMBER() OVER (PARTITION BY e.anonymous_id ORDER BY e.timestamp DESC, e.id DESC) AS recency
      FROM events AS e
      WHERE
        NOT e.anonymous_id IS NULL AND NOT e.user_id IS NULL
    ) AS ranked
    WHERE
      ranked.recency = 1
  )
  SELECT
    u.alias,
    u.alias AS dbt_visitor_id
  FROM user_ids AS u
  UNION ALL
  SELECT
    a.alias,
    COALESCE(l.user_id, a.alias) AS dbt_visitor_id
  FROM anonymous_ids AS a
  LEFT JOIN latest_identification AS l
    ON l.anonymous_id = a.alias
  LEFT JOIN user_ids AS u
    ON u.alias = a.alias
  WHERE
    u.alias IS NULL
) AS m
WHERE
  m.alias IN (
    SELECT
      a.alias
    FROM {{ journey_sql_work('jsql_changed_aliases__jsql_delta') }} AS a
  )
-- journey_sql: next statement
-- journey_sql: run
CREATE OR REPLACE TABLE {{ journey_sql_work('jsql_visitor_changes__jsql_delta') }} AS
WITH old_mapping AS (
  SELECT
    m.alias,
    m.dbt_visitor_id
  FROM {{ this }} AS m
  WHERE
    m.alias IN (
      SELECT
        a.alias
      FROM {{ journey_sql_work('jsql_changed_aliases__jsql_delta') }} AS a
    )
), new_mapping AS NOT MATERIALIZED (
  SELECT
    d.alias,
    d.dbt_visitor_id
  FROM {{ journey_sql_work('dbt_aliases_mapping__jsql_delta') }} AS d
), either_mapping AS (
  SELECT
    o.alias,
    o.dbt_visitor_id
  FROM old_mapping AS o
  UNION ALL
  SELECT
    n.alias,
    n.dbt_visitor_id
  FROM new_mapping AS n
), moved AS (
  SELECT
    o.dbt_visitor_id AS dbt_visitor_id
  FROM old_mapping AS o
  LEFT JOIN new_mapping AS n
    ON n.alias = o.alias
  WHERE
    n.dbt_visitor_id IS NULL OR n.dbt_visitor_id <> o.dbt_visitor_id
  UNION
  SELECT
    n.dbt_visitor_id AS dbt_visitor_id
  FROM new_mapping AS n
  INNER JOIN old_mapping AS o
    ON o.alias = n.alias
  WHERE
    n.dbt_visitor_id <> o.dbt_visitor_id
), changes AS (
  SELECT
    COALESCE(d.user_id, d.anonymous_id) AS alias,
    d.timestamp
  FROM {{ journey_sql_work('jsql_events__jsql_delta') }} AS d
  WHERE
    (
      d.is_new = 1 AND d.left_out IS NULL
    )
    OR (
      d.is_new = 0 AND d.old_rank = 1 AND d.delivery_rank > 1 AND ISFINITE(d.timestamp)
    )
)
SELECT
  e.dbt_visitor_id AS dbt_visitor_id,
  MIN(c.timestamp) AS changed_at,
  MAX(CASE WHEN mv.dbt_visitor_id IS NULL THEN 0 ELSE 1 END) AS moved
FROM either_mapping AS e
LEFT JOIN changes AS c
  ON c.alias = e.alias
LEFT JOIN moved AS mv
  ON mv.dbt_visitor_id = e.dbt_visitor_id
GROUP BY
  e.dbt_visitor_id
-- journey_sql: next statement
-- journey_sql: run
CREATE OR REPLACE TABLE {{ journey_sql_work('jsql_changed_visitors__jsql_delta') }} AS
WITH ranked AS (
  SELECT
    s.dbt_visitor_id AS dbt_visitor_id,
    s.session_id AS session_id,
    s.session_start_at AS session_start_at,
    ROW_NUMBER() OVER (PARTITION BY s.dbt_visitor_id ORDER BY s.session_start_at DESC) AS sessions_back
  FROM {{ journey_sql_relation('dbt_session_tracks') }} AS s
  INNER JOIN {{ journey_sql_work('jsql_visitor_changes__jsql_delta') }} AS v
    ON v.dbt_visitor_id = s.dbt_visitor_id
  WHERE
    v.moved = 0 AND s.session_start_at < v.changed_at
), sessions_before AS (
  SELECT
    r.dbt_visitor_id,
    MAX(CASE WHEN r.sessions_back = 1 THEN r.session_id END) AS last_session_id,
    MAX(CASE WHEN r.sessions_back = 1 THEN r.session_start_at END) AS last_start,
    MAX(CASE WHEN r.sessions_back = 2 THEN r.session_start_at END) AS previous_start
  FROM ranked AS r
  WHERE
    r.sessions_back <= 2
  GROUP BY
    r.dbt_visitor_id
), points AS (
  SELECT
    v.dbt_visitor_id AS dbt_visitor_id,
    v.changed_at AS changed_at,
    b.last_start AS last_start,
    b.previous_start AS previous_start,
    CASE
      WHEN f.ended_at < v.changed_at
      AND CAST(EPOCH_US(v.changed_at) - EPOCH_US(f.ended_at) AS DOUBLE) / 60000000 > CAST(1800000000 AS DOUBLE) / 60000000
      THEN 1
      ELSE 0
    END AS closed
  FROM {{ journey_sql_work('jsql_visitor_changes__jsql_delta') }} AS v
  LEFT JOIN sessions_before AS b
    ON b.dbt_visitor_id = v.dbt_visitor_id
  LEFT JOIN {{ journey_sql_relation('dbt_session_track_facts') }} AS f
    ON f.session_id = b.last_session_id
)
SELECT
  p.dbt_visitor_id,
  CASE
    WHEN p.closed = 1
    THEN p.changed_at
    WHEN NOT p.previous_start IS NULL
    THEN p.last_start
  END AS rebuild_from,
  CASE WHEN p.closed = 1 THEN p.last_start ELSE p.previous_start END AS context_from
FROM points AS p
-- journey_sql: next statement
-- journey_sql: run
CREATE OR REPLACE TABLE {{ journey_sql_work('jsql_stale_sessions__jsql_delta') }} AS
SELECT
  s.session_id
FROM {{ journey_sql_relation('dbt_session_tracks') }} AS s
INNER JOIN {{ journey_sql_work('jsql_changed_visitors__jsql_delta') }} AS v
  ON v.dbt_visitor_id = s.dbt_visitor_id
WHERE
  v.rebuild_from IS NULL OR s.session_start_at >= v.rebuild_from
-- journey_sql: next statement
-- journey_sql: run
DELETE FROM {{ this }}
WHERE
  alias IN (
    SELECT
      k.alias
    FROM {{ journey_sql_work('jsql_changed_aliases__jsql_delta') }} AS k
  )
-- journey_sql: next statement
-- journey_sql: run
INSERT INTO {{ this }} (
  alias,
  dbt_visitor_id
)
SELECT
  d.alias,
  d.dbt_visitor_id
FROM {{ journey_sql_work('dbt_aliases_mapping__jsql_delta') }} AS d
{% else %}
WITH events AS NOT MATERIALIZED (
  SELECT
    e.id,
    e.anonymous_id,
    e.user_id,
    e.event,
    e.timestamp
  FROM {{ ref('jsql_events') }} AS e
  WHERE
    e.left_out IS NULL
), user_ids AS (
  SELECT DISTINCT
    e.user_id AS alias
  FROM events AS e
  WHERE
    NOT e.user_id IS NULL
), anonymous_ids AS (
  SELECT DISTINCT
    e.anonymous_id AS alias
  FROM events AS e
  WHERE
    NOT e.anonymous_id IS NULL
), latest_identification AS (
  SELECT
    ranked.anonymous_id,
    ranked.user_id
  FROM (
    SELECT
      e.anonymous_id,
      e.user_id,
      ROW_NUMBER() OVER (PARTITION BY e.anonymous_id ORDER BY e.timestamp DESC, e.id DESC) AS recency
    FROM events AS e
    WHERE
      NOT e.anonymous_id IS NULL AND NOT e.user_id IS NULL
  ) AS ranked
  WHERE
    ranked.recency = 1
)
SELECT
  u.alias,
  u.alias AS dbt_visitor_id
FROM user_ids AS u
UNION ALL
SELECT
  a.alias,
  COALESCE(l.user_id, a.alias) AS dbt_visitor_id
FROM anonymous_ids AS a
LEFT JOIN latest_identification AS l
  ON l.anonymous_id = a.alias
LEFT JOIN user_ids AS u
  ON u.alias = a.alias
WHERE
  u.alias IS NULL
{% endif %}
