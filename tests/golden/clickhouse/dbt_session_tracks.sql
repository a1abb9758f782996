
CREATE DATABASE IF NOT EXISTS analytics;

-- dbt_session_tracks: sessions
CREATE OR REPLACE TABLE analytics.dbt_session_tracks
ENGINE=MergeTree
ORDER BY (dbt_visitor_id, session_start_at)
SETTINGS
  allow_nullable_key = 1 AS
WITH session_starts AS (
  SELECT
    t.dbt_visitor_id,
    t.timestamp,
    t.event_id
  FROM analytics.dbt_mapped_tracks AS t
  WHERE
    (
      t.idle_time_minutes IS NULL
      OR t.idle_time_minutes > CAST(1800000000 AS Nullable(Float64)) / 60000000
    )
), numbered AS (
  SELECT
    s.dbt_visitor_id,
    s.timestamp AS session_start_at,
    ROW_NUMBER() OVER (PARTITION BY s.dbt_visitor_id ORDER BY s.timestamp ASC, s.event_id ASC) AS session_sequence_number,
    leadInFrame(toNullable(s.timestamp)) OVER (
      PARTITION BY s.dbt_visitor_id
      ORDER BY s.timestamp ASC, s.event_id ASC
      ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
    ) AS next_session_start_at
  FROM session_starts AS s
)
SELECT
  CAST(n.session_sequence_number AS Nullable(String)) || ' - ' || n.dbt_visitor_id AS session_id,
  n.dbt_visitor_id,
  n.session_start_at,
  n.session_sequence_number,
  n.next_session_start_at
FROM numbered AS n;
