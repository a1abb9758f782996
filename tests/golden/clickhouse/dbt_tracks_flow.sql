
CREATE DATABASE IF NOT EXISTS analytics;

-- dbt_tracks_flow: each event with the events that follow it
CREATE OR REPLACE TABLE analytics.dbt_tracks_flow
ENGINE=MergeTree
ORDER BY (session_id, track_sequence_number)
SETTINGS
  allow_nullable_key = 1 AS
SELECT
  f.event_id,
  f.session_id,
  f.track_sequence_number,
  f.event,
  f.dbt_visitor_id,
  f.timestamp,
  leadInFrame(toNullable(f.event), 1) OVER (
    PARTITION BY f.session_id
    ORDER BY f.track_sequence_number ASC
    ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
  ) AS event_2,
  leadInFrame(toNullable(f.event), 2) OVER (
    PARTITION BY f.session_id
    ORDER BY f.track_sequence_number ASC
    ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
  ) AS event_3,
  leadInFrame(toNullable(f.event), 3) OVER (
    PARTITION BY f.session_id
    ORDER BY f.track_sequence_number ASC
    ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
  ) AS event_4,
  leadInFrame(toNullable(f.event), 4) OVER (
    PARTITION BY f.session_id
    ORDER BY f.track_sequence_number ASC
    ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
  ) AS event_5
FROM analytics.dbt_track_facts AS f;
