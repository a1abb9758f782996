-- incremental: rebuilds the visitors with rows received since analytics.jsql_state's watermark minus 86400 s; needs a full build (journey-sql apply) first

CREATE SCHEMA IF NOT EXISTS analytics;

-- jsql_new_rows: source rows received since the watermark minus the lookback, not processed before
CREATE OR REPLACE TABLE analytics.jsql_new_rows__jsql_delta AS
WITH window_rows AS (
  SELECT
    src.id,
    src.anonymous_id,
    src.user_id,
    src.event,
    src.timestamp,
    src.received_at,
    1 AS is_new
  FROM rudder.tracks AS src
  WHERE
    (
      src.received_at >= (
        SELECT
          s.watermark - INTERVAL '86400' SECOND
        FROM analytics.jsql_state AS s
      )
      OR src.received_at IS NULL
      OR (
        SELECT
          s.watermark
        FROM analytics.jsql_state AS s
      ) IS NULL
    )
), known_rows AS (
  SELECT
    e.id,
    e.anonymous_id,
    e.user_id,
    e.event,
    e.timestamp,
    e.received_at,
    0 AS is_new
  FROM analytics.jsql_events AS e
  WHERE
    (
      e.received_at >= (
        SELECT
          s.watermark - INTERVAL '86400' SECOND
        FROM analytics.jsql_state AS s
      )
      OR e.received_at IS NULL
      OR (
        SELECT
          s.watermark
        FROM analytics.jsql_state AS s
      ) IS NULL
    )
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
    SUM(b.is_new) OVER (PARTITION BY b.id) AS source_rows,
    COUNT(*) OVER (PARTITION BY b.id) AS all_rows
  FROM both_sides AS b
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
      ORDER BY r.is_new NULLS LAST
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
  MIN(n.is_new) = 1;

-- jsql_events_delta: every delivery of the ids with new rows, ranked again
CREATE OR REPLACE TABLE analytics.jsql_events__jsql_delta AS
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
  FROM analytics.jsql_events AS e
  WHERE
    e.id IN (
      SELECT
        n.id
      FROM analytics.jsql_new_rows__jsql_delta AS n
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
    CAST(NULL AS INT64) AS old_rank
  FROM analytics.jsql_new_rows__jsql_delta AS n
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
      NOT r.timestamp IS NULL
    )
    THEN 'no timestamp'
    WHEN r.user_id IS NULL AND r.anonymous_id IS NULL
    THEN 'no identity'
  END AS left_out,
  r.is_new,
  r.old_rank
FROM (
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
      ORDER BY src.received_at ASC NULLS LAST, src.timestamp ASC NULLS LAST, src.event ASC NULLS LAST, src.anonymous_id ASC NULLS LAST, src.user_id ASC NULLS LAST, src.is_new ASC NULLS LAST
    ) AS delivery_rank
  FROM candidates AS src
) AS r;

-- jsql_changed_aliases: aliases whose visitor may change
CREATE OR REPLACE TABLE analytics.jsql_changed_aliases__jsql_delta AS
WITH changed AS (
  SELECT
    d.id,
    d.user_id,
    d.anonymous_id
  FROM analytics.jsql_events__jsql_delta AS d
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
  FROM analytics.jsql_events__jsql_delta AS d
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
  NOT a.alias IS NULL;

-- jsql_read_aliases: those aliases and the other aliases of their visitors
CREATE OR REPLACE TABLE analytics.jsql_read_aliases__jsql_delta AS
SELECT
  a.alias
FROM analytics.jsql_changed_aliases__jsql_delta AS a
UNION DISTINCT
SELECT
  m.alias
FROM analytics.dbt_aliases_mapping AS m
WHERE
  m.dbt_visitor_id IN (
    SELECT
      o.dbt_visitor_id
    FROM analytics.dbt_aliases_mapping AS o
    WHERE
      o.alias IN (
        SELECT
          a.alias
        FROM analytics.jsql_changed_aliases__jsql_delta AS a
      )
  );

-- jsql_state: the state is dropped until the tables are consistent again
DROP TABLE IF EXISTS analytics.jsql_state;

-- jsql_events: the rows of jsql_events for the visitors rebuilt
DELETE FROM analytics.jsql_events
WHERE
  id IN (
    SELECT
      k.id
    FROM analytics.jsql_events__jsql_delta AS k
  );
INSERT INTO analytics.jsql_events (
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
FROM analytics.jsql_events__jsql_delta AS d;

-- jsql_alias_events: the events carrying those aliases
CREATE OR REPLACE TABLE analytics.jsql_alias_events__jsql_delta AS
SELECT
  e.id,
  e.anonymous_id,
  e.user_id,
  e.event,
  e.timestamp,
  e.received_at,
  e.delivery_rank,
  e.left_out
FROM analytics.jsql_events AS e
WHERE
  e.left_out IS NULL
  AND (
    e.user_id IN (
      SELECT
        a.alias
      FROM analytics.jsql_read_aliases__jsql_delta AS a
    )
    OR e.anonymous_id IN (
      SELECT
        a.alias
      FROM analytics.jsql_read_aliases__jsql_delta AS a
    )
  );

-- dbt_aliases_mapping: identity stitching
CREATE OR REPLACE TABLE analytics.dbt_aliases_mapping__jsql_delta AS
SELECT
  m.alias,
  m.dbt_visitor_id
FROM (
  WITH events AS (
    SELECT
      e.id,
      e.anonymous_id,
      e.user_id,
      e.event,
      e.timestamp
    FROM analytics.jsql_alias_events__jsql_delta AS e
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
    FROM analytics.jsql_changed_aliases__jsql_delta AS a
  );

-- jsql_visitor_changes: visitors to rebuild, and where their events first change
CREATE OR REPLACE TABLE analytics.jsql_visitor_changes__jsql_delta AS
WITH old_mapping AS (
  SELECT
    m.alias,
    m.dbt_visitor_id
  FROM analytics.dbt_aliases_mapping AS m
  WHERE
    m.alias IN (
      SELECT
        a.alias
      FROM analytics.jsql_changed_aliases__jsql_delta AS a
    )
), new_mapping AS (
  SELECT
    d.alias,
    d.dbt_visitor_id
  FROM analytics.dbt_aliases_mapping__jsql_delta AS d
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
  UNION DISTINCT
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
  FROM analytics.jsql_events__jsql_delta AS d
  WHERE
    (
      d.is_new = 1 AND d.left_out IS NULL
    )
    OR (
      d.is_new = 0 AND d.old_rank = 1 AND d.delivery_rank > 1
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
  e.dbt_visitor_id;

-- jsql_changed_visitors: visitors to rebuild, and from where
CREATE OR REPLACE TABLE analytics.jsql_changed_visitors__jsql_delta AS
WITH ranked AS (
  SELECT
    s.dbt_visitor_id AS dbt_visitor_id,
    s.session_id AS session_id,
    s.session_start_at AS session_start_at,
    ROW_NUMBER() OVER (PARTITION BY s.dbt_visitor_id ORDER BY s.session_start_at DESC) AS sessions_back
  FROM analytics.dbt_session_tracks AS s
  INNER JOIN analytics.jsql_visitor_changes__jsql_delta AS v
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
      AND CAST(UNIX_MICROS(CAST(v.changed_at AS TIMESTAMP)) - UNIX_MICROS(CAST(f.ended_at AS TIMESTAMP)) AS FLOAT64) / 60000000 > CAST(1800000000 AS FLOAT64) / 60000000
      THEN 1
      ELSE 0
    END AS closed
  FROM analytics.jsql_visitor_changes__jsql_delta AS v
  LEFT JOIN sessions_before AS b
    ON b.dbt_visitor_id = v.dbt_visitor_id
  LEFT JOIN analytics.dbt_session_track_facts AS f
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
FROM points AS p;

-- jsql_stale_sessions: their sessions as the last build numbered them
CREATE OR REPLACE TABLE analytics.jsql_stale_sessions__jsql_delta AS
SELECT
  s.session_id
FROM analytics.dbt_session_tracks AS s
INNER JOIN analytics.jsql_changed_visitors__jsql_delta AS v
  ON v.dbt_visitor_id = s.dbt_visitor_id
WHERE
  v.rebuild_from IS NULL OR s.session_start_at >= v.rebuild_from;

-- dbt_aliases_mapping: the rows of dbt_aliases_mapping for the visitors rebuilt
DELETE FROM analytics.dbt_aliases_mapping
WHERE
  alias IN (
    SELECT
      k.alias
    FROM analytics.jsql_changed_aliases__jsql_delta AS k
  );
INSERT INTO analytics.dbt_aliases_mapping (
  alias,
  dbt_visitor_id
)
SELECT
  d.alias,
  d.dbt_visitor_id
FROM analytics.dbt_aliases_mapping__jsql_delta AS d;

-- jsql_visitor_aliases: the aliases of the visitors to rebuild
CREATE OR REPLACE TABLE analytics.jsql_visitor_aliases__jsql_delta AS
SELECT
  m.alias AS alias,
  m.dbt_visitor_id AS dbt_visitor_id,
  CASE WHEN r.alias IS NULL THEN 0 ELSE 1 END AS is_read
FROM analytics.dbt_aliases_mapping AS m
LEFT JOIN analytics.jsql_read_aliases__jsql_delta AS r
  ON r.alias = m.alias
WHERE
  m.dbt_visitor_id IN (
    SELECT
      v.dbt_visitor_id
    FROM analytics.jsql_changed_visitors__jsql_delta AS v
  );

-- jsql_visitor_events: the events the visitors are rebuilt from
CREATE OR REPLACE TABLE analytics.jsql_visitor_events__jsql_delta AS
WITH aliases AS (
  SELECT
    m.alias AS alias,
    m.is_read AS is_read,
    v.dbt_visitor_id AS dbt_visitor_id,
    v.context_from AS context_from
  FROM analytics.jsql_visitor_aliases__jsql_delta AS m
  INNER JOIN analytics.jsql_changed_visitors__jsql_delta AS v
    ON v.dbt_visitor_id = m.dbt_visitor_id
), unread AS (
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
  FROM analytics.jsql_alias_events__jsql_delta AS e
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
  FROM analytics.jsql_events AS e
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
  FROM analytics.jsql_events AS e
  INNER JOIN unread AS a
    ON a.alias = e.anonymous_id
  WHERE
    e.left_out IS NULL AND e.user_id IS NULL
), context_starts AS (
  SELECT
    s.dbt_visitor_id AS dbt_visitor_id,
    s.session_start_at AS session_start_at
  FROM analytics.dbt_session_tracks AS s
  INNER JOIN analytics.jsql_changed_visitors__jsql_delta AS v
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
  OR NOT o.dbt_visitor_id IS NULL;

-- dbt_mapped_tracks: events with visitor and idle time
CREATE OR REPLACE TABLE analytics.dbt_mapped_tracks__jsql_delta AS
WITH events AS (
  SELECT
    e.id,
    e.anonymous_id,
    e.user_id,
    e.event,
    e.timestamp
  FROM analytics.jsql_visitor_events__jsql_delta AS e
  WHERE
    e.left_out IS NULL
)
SELECT
  e.id AS event_id,
  e.anonymous_id,
  m.dbt_visitor_id,
  e.timestamp,
  e.event,
  CAST(UNIX_MICROS(CAST(e.timestamp AS TIMESTAMP)) - LAG(UNIX_MICROS(CAST(e.timestamp AS TIMESTAMP))) OVER (
    PARTITION BY m.dbt_visitor_id
    ORDER BY e.timestamp ASC NULLS LAST, e.id ASC NULLS LAST
  ) AS FLOAT64) / 60000000 AS idle_time_minutes
FROM events AS e
INNER JOIN analytics.jsql_visitor_aliases__jsql_delta AS m
  ON m.alias = COALESCE(e.user_id, e.anonymous_id);

-- dbt_session_tracks: sessions
CREATE OR REPLACE TABLE analytics.dbt_session_tracks__jsql_delta AS
WITH session_starts AS (
  SELECT
    t.dbt_visitor_id,
    t.timestamp,
    t.event_id
  FROM analytics.dbt_mapped_tracks__jsql_delta AS t
  WHERE
    (
      t.idle_time_minutes IS NULL
      OR t.idle_time_minutes > CAST(1800000000 AS FLOAT64) / 60000000
    )
), numbered AS (
  SELECT
    s.dbt_visitor_id,
    s.timestamp AS session_start_at,
    ROW_NUMBER() OVER (
      PARTITION BY s.dbt_visitor_id
      ORDER BY s.timestamp ASC NULLS LAST, s.event_id ASC NULLS LAST
    ) AS session_sequence_number,
    LEAD(s.timestamp) OVER (
      PARTITION BY s.dbt_visitor_id
      ORDER BY s.timestamp ASC NULLS LAST, s.event_id ASC NULLS LAST
    ) AS next_session_start_at
  FROM session_starts AS s
)
SELECT
  CAST(n.session_sequence_number AS STRING) || ' - ' || n.dbt_visitor_id AS session_id,
  n.dbt_visitor_id,
  n.session_start_at,
  n.session_sequence_number,
  n.next_session_start_at
FROM numbered AS n;

-- dbt_track_facts: events with session and sequence number
CREATE OR REPLACE TABLE analytics.dbt_track_facts__jsql_delta AS
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
          OR t.idle_time_minutes > CAST(1800000000 AS FLOAT64) / 60000000
        )
        THEN 1
        ELSE 0
      END AS opens_session
    FROM analytics.dbt_mapped_tracks__jsql_delta AS t
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
      ) AS INT64) AS session_sequence_number,
      ROW_NUMBER() OVER (
        PARTITION BY f.dbt_visitor_id
        ORDER BY f.timestamp ASC NULLS LAST, f.event_id ASC NULLS LAST
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
    CAST(n.session_sequence_number AS STRING) || ' - ' || n.dbt_visitor_id AS session_id,
    n.dbt_visitor_id,
    n.visitor_event_number - o.opening_number + 1 AS track_sequence_number
  FROM numbered AS n
  INNER JOIN session_openings AS o
    ON o.dbt_visitor_id = n.dbt_visitor_id
    AND o.session_sequence_number = n.session_sequence_number
) AS r
INNER JOIN analytics.jsql_changed_visitors__jsql_delta AS v
  ON v.dbt_visitor_id = r.dbt_visitor_id
WHERE
  v.rebuild_from IS NULL OR r.timestamp >= v.rebuild_from;

-- dbt_tracks_flow: each event with the events that follow it
CREATE OR REPLACE TABLE analytics.dbt_tracks_flow__jsql_delta AS
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
      ORDER BY f.timestamp ASC NULLS LAST, f.event_id ASC NULLS LAST
    ) = f.track_sequence_number + 1
    THEN LEAD(f.event, 1) OVER (
      PARTITION BY f.dbt_visitor_id
      ORDER BY f.timestamp ASC NULLS LAST, f.event_id ASC NULLS LAST
    )
  END AS event_2,
  CASE
    WHEN LEAD(f.track_sequence_number, 2) OVER (
      PARTITION BY f.dbt_visitor_id
      ORDER BY f.timestamp ASC NULLS LAST, f.event_id ASC NULLS LAST
    ) = f.track_sequence_number + 2
    THEN LEAD(f.event, 2) OVER (
      PARTITION BY f.dbt_visitor_id
      ORDER BY f.timestamp ASC NULLS LAST, f.event_id ASC NULLS LAST
    )
  END AS event_3,
  CASE
    WHEN LEAD(f.track_sequence_number, 3) OVER (
      PARTITION BY f.dbt_visitor_id
      ORDER BY f.timestamp ASC NULLS LAST, f.event_id ASC NULLS LAST
    ) = f.track_sequence_number + 3
    THEN LEAD(f.event, 3) OVER (
      PARTITION BY f.dbt_visitor_id
      ORDER BY f.timestamp ASC NULLS LAST, f.event_id ASC NULLS LAST
    )
  END AS event_4,
  CASE
    WHEN LEAD(f.track_sequence_number, 4) OVER (
      PARTITION BY f.dbt_visitor_id
      ORDER BY f.timestamp ASC NULLS LAST, f.event_id ASC NULLS LAST
    ) = f.track_sequence_number + 4
    THEN LEAD(f.event, 4) OVER (
      PARTITION BY f.dbt_visitor_id
      ORDER BY f.timestamp ASC NULLS LAST, f.event_id ASC NULLS LAST
    )
  END AS event_5
FROM analytics.dbt_track_facts__jsql_delta AS f;

-- dbt_session_track_facts: per session: last event and event counts
CREATE OR REPLACE TABLE analytics.dbt_session_track_facts__jsql_delta AS
SELECT
  f.session_id,
  MAX(f.timestamp) AS ended_at,
  COUNT(*) AS num_pvs
FROM analytics.dbt_track_facts__jsql_delta AS f
GROUP BY
  f.session_id;

-- dbt_session_duration: per session: exact minutes from first to last event
CREATE OR REPLACE TABLE analytics.dbt_session_duration__jsql_delta AS
SELECT
  s.dbt_visitor_id,
  s.session_id,
  CAST(UNIX_MICROS(CAST(f.ended_at AS TIMESTAMP)) - UNIX_MICROS(CAST(s.session_start_at AS TIMESTAMP)) AS FLOAT64) / 60000000 AS session_duration
FROM analytics.dbt_session_tracks__jsql_delta AS s
INNER JOIN analytics.dbt_session_track_facts__jsql_delta AS f
  ON f.session_id = s.session_id;

-- dbt_user_session_facts: per visitor: first and last session start, number of sessions
CREATE OR REPLACE TABLE analytics.dbt_user_session_facts__jsql_delta AS
SELECT
  s.dbt_visitor_id,
  MIN(s.session_start_at) AS first_date,
  MAX(s.session_start_at) AS last_date,
  COUNT(*) AS number_of_sessions
FROM analytics.dbt_session_tracks__jsql_delta AS s
GROUP BY
  s.dbt_visitor_id;

-- dbt_mapped_tracks: the rows of dbt_mapped_tracks for the visitors rebuilt
DELETE FROM analytics.dbt_mapped_tracks
WHERE
  EXISTS(
    SELECT
      1
    FROM analytics.jsql_changed_visitors__jsql_delta AS v
    WHERE
      dbt_mapped_tracks.dbt_visitor_id = v.dbt_visitor_id
      AND (
        v.rebuild_from IS NULL OR dbt_mapped_tracks.timestamp >= v.rebuild_from
      )
  );
INSERT INTO analytics.dbt_mapped_tracks (
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
FROM analytics.dbt_mapped_tracks__jsql_delta AS d
INNER JOIN analytics.jsql_changed_visitors__jsql_delta AS v
  ON v.dbt_visitor_id = d.dbt_visitor_id
WHERE
  v.rebuild_from IS NULL OR d.timestamp >= v.rebuild_from;

-- dbt_session_tracks: the rows of dbt_session_tracks for the visitors rebuilt
DELETE FROM analytics.dbt_session_tracks
WHERE
  EXISTS(
    SELECT
      1
    FROM analytics.jsql_changed_visitors__jsql_delta AS v
    WHERE
      dbt_session_tracks.dbt_visitor_id = v.dbt_visitor_id
      AND (
        v.context_from IS NULL OR dbt_session_tracks.session_start_at >= v.context_from
      )
  );
INSERT INTO analytics.dbt_session_tracks (
  session_id,
  dbt_visitor_id,
  session_start_at,
  session_sequence_number,
  next_session_start_at
)
SELECT
  d.session_id,
  d.dbt_visitor_id,
  d.session_start_at,
  d.session_sequence_number,
  d.next_session_start_at
FROM analytics.dbt_session_tracks__jsql_delta AS d
INNER JOIN analytics.jsql_changed_visitors__jsql_delta AS v
  ON v.dbt_visitor_id = d.dbt_visitor_id
WHERE
  v.context_from IS NULL OR d.session_start_at >= v.context_from;

-- dbt_track_facts: the rows of dbt_track_facts for the visitors rebuilt
DELETE FROM analytics.dbt_track_facts
WHERE
  EXISTS(
    SELECT
      1
    FROM analytics.jsql_changed_visitors__jsql_delta AS v
    WHERE
      dbt_track_facts.dbt_visitor_id = v.dbt_visitor_id
      AND (
        v.rebuild_from IS NULL OR dbt_track_facts.timestamp >= v.rebuild_from
      )
  );
INSERT INTO analytics.dbt_track_facts (
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
FROM analytics.dbt_track_facts__jsql_delta AS d
INNER JOIN analytics.jsql_changed_visitors__jsql_delta AS v
  ON v.dbt_visitor_id = d.dbt_visitor_id
WHERE
  v.rebuild_from IS NULL OR d.timestamp >= v.rebuild_from;

-- dbt_tracks_flow: the rows of dbt_tracks_flow for the visitors rebuilt
DELETE FROM analytics.dbt_tracks_flow
WHERE
  EXISTS(
    SELECT
      1
    FROM analytics.jsql_changed_visitors__jsql_delta AS v
    WHERE
      dbt_tracks_flow.dbt_visitor_id = v.dbt_visitor_id
      AND (
        v.rebuild_from IS NULL OR dbt_tracks_flow.timestamp >= v.rebuild_from
      )
  );
INSERT INTO analytics.dbt_tracks_flow (
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
FROM analytics.dbt_tracks_flow__jsql_delta AS d
INNER JOIN analytics.jsql_changed_visitors__jsql_delta AS v
  ON v.dbt_visitor_id = d.dbt_visitor_id
WHERE
  v.rebuild_from IS NULL OR d.timestamp >= v.rebuild_from;

-- dbt_session_track_facts: the rows of dbt_session_track_facts for the visitors rebuilt
DELETE FROM analytics.dbt_session_track_facts
WHERE
  session_id IN (
    SELECT
      k.session_id
    FROM analytics.jsql_stale_sessions__jsql_delta AS k
  );
INSERT INTO analytics.dbt_session_track_facts (
  session_id,
  ended_at,
  num_pvs
)
SELECT
  d.session_id,
  d.ended_at,
  d.num_pvs
FROM analytics.dbt_session_track_facts__jsql_delta AS d;

-- dbt_session_duration: the rows of dbt_session_duration for the visitors rebuilt
DELETE FROM analytics.dbt_session_duration
WHERE
  session_id IN (
    SELECT
      k.session_id
    FROM analytics.jsql_stale_sessions__jsql_delta AS k
  );
INSERT INTO analytics.dbt_session_duration (
  dbt_visitor_id,
  session_id,
  session_duration
)
SELECT
  d.dbt_visitor_id,
  d.session_id,
  d.session_duration
FROM analytics.dbt_session_duration__jsql_delta AS d;

-- dbt_user_session_facts: the rows of dbt_user_session_facts for the visitors rebuilt
DELETE FROM analytics.dbt_user_session_facts
WHERE
  dbt_visitor_id IN (
    SELECT
      k.dbt_visitor_id
    FROM analytics.jsql_changed_visitors__jsql_delta AS k
  );
INSERT INTO analytics.dbt_user_session_facts (
  dbt_visitor_id,
  first_date,
  last_date,
  number_of_sessions
)
SELECT
  d.dbt_visitor_id,
  d.first_date,
  d.last_date,
  d.number_of_sessions
FROM analytics.dbt_user_session_facts__jsql_delta AS d;

-- jsql_state: what this build was made from: settings, semantics version, newest received_at processed
CREATE OR REPLACE TABLE analytics.jsql_state AS
SELECT
  CAST(1 AS INT64) AS semantics_version,
  '0.1.0' AS journey_sql_version,
  CAST(1800000000 AS INT64) AS session_timeout_us,
  CAST(5 AS INT64) AS depth,
  '[]' AS count_events,
  '25fbfa4782b67eb0' AS source_hash,
  MAX(CASE WHEN TRUE THEN e.received_at END) AS watermark,
  COUNT(*) AS rows_processed
FROM analytics.jsql_events AS e;

-- drop the work tables
DROP TABLE IF EXISTS analytics.jsql_new_rows__jsql_delta;
DROP TABLE IF EXISTS analytics.jsql_events__jsql_delta;
DROP TABLE IF EXISTS analytics.jsql_changed_aliases__jsql_delta;
DROP TABLE IF EXISTS analytics.jsql_read_aliases__jsql_delta;
DROP TABLE IF EXISTS analytics.jsql_alias_events__jsql_delta;
DROP TABLE IF EXISTS analytics.dbt_aliases_mapping__jsql_delta;
DROP TABLE IF EXISTS analytics.jsql_visitor_changes__jsql_delta;
DROP TABLE IF EXISTS analytics.jsql_changed_visitors__jsql_delta;
DROP TABLE IF EXISTS analytics.jsql_stale_sessions__jsql_delta;
DROP TABLE IF EXISTS analytics.jsql_visitor_aliases__jsql_delta;
DROP TABLE IF EXISTS analytics.jsql_visitor_events__jsql_delta;
DROP TABLE IF EXISTS analytics.dbt_mapped_tracks__jsql_delta;
DROP TABLE IF EXISTS analytics.dbt_session_tracks__jsql_delta;
DROP TABLE IF EXISTS analytics.dbt_track_facts__jsql_delta;
DROP TABLE IF EXISTS analytics.dbt_tracks_flow__jsql_delta;
DROP TABLE IF EXISTS analytics.dbt_session_track_facts__jsql_delta;
DROP TABLE IF EXISTS analytics.dbt_session_duration__jsql_delta;
DROP TABLE IF EXISTS analytics.dbt_user_session_facts__jsql_delta;
