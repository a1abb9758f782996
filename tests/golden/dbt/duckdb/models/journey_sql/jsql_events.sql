{# journey-sql <version>: the source read once: every row, ranked among its id's deliveries, why it is left out. Written by `journey-sql dbt --out DIR --dialect duckdb`;
   regenerate with the same command and --force rather than edit. The settings are the vars in
   dbt_project.yml, checked by journey_sql_check_settings(); the materialization is set there too. #}
{{ journey_sql_check_settings() }}
{% if journey_sql_continues_build() %}
-- journey_sql: run
CREATE OR REPLACE TABLE {{ journey_sql_work('jsql_run__jsql_delta') }} AS
SELECT
  '{{ invocation_id }}' AS invocation_id
-- journey_sql: next statement
-- journey_sql: run
CREATE OR REPLACE TABLE {{ journey_sql_work('jsql_new_rows__jsql_delta') }} AS
WITH window_rows AS (
  SELECT
    src.id,
    src.anonymous_id,
    src.user_id,
    src.event,
    src.timestamp,
    src.received_at,
    1 AS is_new
  FROM (
    SELECT
      src.anonymous_id,
      src.event,
      src.id,
      src.received_at,
      src.timestamp,
      src.user_id
    FROM {{ source('rudder', 'tracks') }} AS src
    WHERE
      src.received_at >= COALESCE(
        (
          SELECT
            s.watermark - INTERVAL '86400' SECOND
          FROM {{ journey_sql_relation('jsql_state') }} AS s
        ),
        CAST('-infinity' AS TIMESTAMP)
      )
    UNION ALL
    SELECT
      src.anonymous_id,
      src.event,
      src.id,
      src.received_at,
      src.timestamp,
      src.user_id
    FROM {{ source('rudder', 'tracks') }} AS src
    WHERE
      src.received_at IS NULL
  ) AS src
), known_rows AS (
  SELECT
    e.id,
    e.anonymous_id,
    e.user_id,
    e.event,
    e.timestamp,
    e.received_at,
    0 AS is_new
  FROM (
    SELECT
      e.anonymous_id,
      e.event,
      e.id,
      e.received_at,
      e.timestamp,
      e.user_id
    FROM {{ this }} AS e
    WHERE
      e.received_at >= COALESCE(
        (
          SELECT
            s.watermark - INTERVAL '86400' SECOND
          FROM {{ journey_sql_relation('jsql_state') }} AS s
        ),
        CAST('-infinity' AS TIMESTAMP)
      )
    UNION ALL
    SELECT
      e.anonymous_id,
      e.event,
      e.id,
      e.received_at,
      e.timestamp,
      e.user_id
    FROM {{ this }} AS e
    WHERE
      e.received_at IS NULL
  ) AS e
), both_sides AS (
  SELECT
    w.id,
    w.anonymous_id,
    w.user_id,
    w.event,
    w.timestamp,
    w.received_at,
    w.is_new
  FROM window_rows AS w
  UNION ALL
  SELECT
    k.id,
    k.anonymous_id,
    k.user_id,
    k.event,
    k.timestamp,
    k.received_at,
    k.is_new
  FROM known_rows AS k
), per_row AS (
  SELECT
    b.id,
    b.anonymous_id,
    b.user_id,
    b.event,
    b.timestamp,
    b.received_at,
    b.is_new,
    jsql_totals.source_rows AS source_rows,
    jsql_totals.all_rows AS all_rows
  FROM both_sides AS b
  JOIN (
    SELECT
      b.id AS jsql_key_0,
      SUM(b.is_new) AS source_rows,
      COUNT(*) AS all_rows
    FROM both_sides AS b
    GROUP BY
      b.id
  ) AS jsql_totals
    ON jsql_totals.jsql_key_0 IS NOT DISTINCT FROM b.id
), numbered AS (
  SELECT
    r.id,
    r.anonymous_id,
    r.user_id,
    r.event,
    r.timestamp,
    r.received_at,
    r.is_new,
    ROW_NUMBER() OVER (
      PARTITION BY r.id, r.anonymous_id, r.user_id, r.event, r.timestamp, r.received_at, r.is_new
      ORDER BY r.is_new
    ) AS copy_number
  FROM per_row AS r
  WHERE
    r.id IS NULL
    OR (
      r.all_rows > r.source_rows AND 2 * r.source_rows > r.all_rows
    )
)
SELECT
  r.id,
  r.anonymous_id,
  r.user_id,
  r.event,
  r.timestamp,
  r.received_at
FROM per_row AS r
WHERE
  NOT r.id IS NULL AND r.all_rows = r.source_rows AND r.is_new = 1
UNION ALL
SELECT
  n.id,
  n.anonymous_id,
  n.user_id,
  n.event,
  n.timestamp,
  n.received_at
FROM numbered AS n
GROUP BY
  n.id,
  n.anonymous_id,
  n.user_id,
  n.event,
  n.timestamp,
  n.received_at,
  n.copy_number
HAVING
  MIN(n.is_new) = 1
-- journey_sql: next statement
-- journey_sql: run
CREATE OR REPLACE TABLE {{ journey_sql_work('jsql_events__jsql_delta') }} AS
WITH candidates AS (
  SELECT
    e.id,
    e.anonymous_id,
    e.user_id,
    e.event,
    e.timestamp,
    e.received_at,
    0 AS is_new,
    e.delivery_rank AS old_rank
  FROM {{ this }} AS e
  WHERE
    e.id IN (
      SELECT
        n.id
      FROM {{ journey_sql_work('jsql_new_rows__jsql_delta') }} AS n
    )
  UNION ALL
  SELECT
    n.id,
    n.anonymous_id,
    n.user_id,
    n.event,
    n.timestamp,
    n.received_at,
    1 AS is_new,
    CAST(NULL AS BIGINT) AS old_rank
  FROM {{ journey_sql_work('jsql_new_rows__jsql_delta') }} AS n
)
SELECT
  r.id,
  r.anonymous_id,
  r.user_id,
  r.event,
  r.timestamp,
  r.received_at,
  CASE WHEN NOT r.id IS NULL THEN r.delivery_rank END AS delivery_rank,
  CASE
    WHEN r.id IS NULL
    THEN 'no id'
    WHEN r.delivery_rank > 1
    THEN 'redelivery'
    WHEN NOT (
      NOT r.timestamp IS NULL AND ISFINITE(r.timestamp)
    )
    THEN 'no timestamp'
    WHEN r.user_id IS NULL AND r.anonymous_id IS NULL
    THEN 'no identity'
  END AS left_out,
  r.is_new,
  r.old_rank
FROM (
  WITH jsql_repeated_ids AS (
    SELECT
      src.id AS repeated_id
    FROM candidates AS src
    GROUP BY
      src.id
    HAVING
      COUNT(*) > 1
  )
  SELECT
    src.id,
    src.anonymous_id,
    src.user_id,
    src.event,
    src.timestamp,
    src.received_at,
    src.is_new,
    src.old_rank,
    1 AS delivery_rank
  FROM candidates AS src
  ANTI JOIN jsql_repeated_ids AS jsql_r
    ON jsql_r.repeated_id IS NOT DISTINCT FROM src.id
  UNION ALL
  SELECT
    src.id,
    src.anonymous_id,
    src.user_id,
    src.event,
    src.timestamp,
    src.received_at,
    src.is_new,
    src.old_rank,
    ROW_NUMBER() OVER (
      PARTITION BY src.id
      ORDER BY src.received_at ASC, src.timestamp ASC, src.event ASC, src.anonymous_id ASC, src.user_id ASC, src.is_new ASC
    ) AS delivery_rank
  FROM candidates AS src
  SEMI JOIN jsql_repeated_ids AS jsql_r
    ON jsql_r.repeated_id IS NOT DISTINCT FROM src.id
) AS r
-- journey_sql: next statement
-- journey_sql: run
CREATE OR REPLACE TABLE {{ journey_sql_work('jsql_changed_aliases__jsql_delta') }} AS
WITH changed AS NOT MATERIALIZED (
  SELECT
    d.id,
    d.user_id,
    d.anonymous_id
  FROM {{ journey_sql_work('jsql_events__jsql_delta') }} AS d
  WHERE
    d.delivery_rank = 1 AND d.is_new = 1
), touched AS (
  SELECT
    c.user_id,
    c.anonymous_id
  FROM changed AS c
  UNION ALL
  SELECT
    d.user_id,
    d.anonymous_id
  FROM {{ journey_sql_work('jsql_events__jsql_delta') }} AS d
  WHERE
    d.old_rank = 1 AND d.id IN (
      SELECT
        c.id
      FROM changed AS c
    )
)
SELECT DISTINCT
  a.alias
FROM (
  SELECT
    t.user_id AS alias
  FROM touched AS t
  UNION ALL
  SELECT
    t.anonymous_id AS alias
  FROM touched AS t
) AS a
WHERE
  NOT a.alias IS NULL
-- journey_sql: next statement
-- journey_sql: run
CREATE OR REPLACE TABLE {{ journey_sql_work('jsql_read_aliases__jsql_delta') }} AS
SELECT
  a.alias
FROM {{ journey_sql_work('jsql_changed_aliases__jsql_delta') }} AS a
UNION
SELECT
  m.alias
FROM {{ journey_sql_relation('dbt_aliases_mapping') }} AS m
WHERE
  m.dbt_visitor_id IN (
    SELECT
      o.dbt_visitor_id
    FROM {{ journey_sql_relation('dbt_aliases_mapping') }} AS o
    WHERE
      o.alias IN (
        SELECT
          a.alias
        FROM {{ journey_sql_work('jsql_changed_aliases__jsql_delta') }} AS a
      )
  )
-- journey_sql: next statement
-- journey_sql: run
DELETE FROM {{ this }}
WHERE
  id IN (
    SELECT
      k.id
    FROM {{ journey_sql_work('jsql_events__jsql_delta') }} AS k
  )
-- journey_sql: next statement
-- journey_sql: run
INSERT INTO {{ this }} (
  id,
  anonymous_id,
  user_id,
  event,
  timestamp,
  received_at,
  delivery_rank,
  left_out
)
SELECT
  d.id,
  d.anonymous_id,
  d.user_id,
  d.event,
  d.timestamp,
  d.received_at,
  d.delivery_rank,
  d.left_out
FROM {{ journey_sql_work('jsql_events__jsql_delta') }} AS d
{% else %}
SELECT
  r.id,
  r.anonymous_id,
  r.user_id,
  r.event,
  r.timestamp,
  r.received_at,
  CASE WHEN NOT r.id IS NULL THEN r.delivery_rank END AS delivery_rank,
  CASE
    WHEN r.id IS NULL
    THEN 'no id'
    WHEN r.delivery_rank > 1
    THEN 'redelivery'
    WHEN NOT (
      NOT r.timestamp IS NULL AND ISFINITE(r.timestamp)
    )
    THEN 'no timestamp'
    WHEN r.user_id IS NULL AND r.anonymous_id IS NULL
    THEN 'no identity'
  END AS left_out
FROM (
  WITH jsql_repeated_ids AS (
    SELECT
      src.id AS repeated_id
    FROM {{ source('rudder', 'tracks') }} AS src
    GROUP BY
      src.id
    HAVING
      COUNT(*) > 1
  )
  SELECT
    src.id,
    src.anonymous_id,
    src.user_id,
    src.event,
    src.timestamp,
    src.received_at,
    1 AS delivery_rank
  FROM {{ source('rudder', 'tracks') }} AS src
  ANTI JOIN jsql_repeated_ids AS jsql_r
    ON jsql_r.repeated_id IS NOT DISTINCT FROM src.id
  UNION ALL
  SELECT
    src.id,
    src.anonymous_id,
    src.user_id,
    src.event,
    src.timestamp,
    src.received_at,
    ROW_NUMBER() OVER (
      PARTITION BY src.id
      ORDER BY src.received_at ASC, src.timestamp ASC, src.event ASC, src.anonymous_id ASC, src.user_id ASC
    ) AS delivery_rank
  FROM {{ source('rudder', 'tracks') }} AS src
  SEMI JOIN jsql_repeated_ids AS jsql_r
    ON jsql_r.repeated_id IS NOT DISTINCT FROM src.id
) AS r
{% endif %}
