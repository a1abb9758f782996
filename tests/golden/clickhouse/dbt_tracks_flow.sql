
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
  CASE
    WHEN leadInFrame(toNullable(f.track_sequence_number), 1) OVER (
      PARTITION BY f.dbt_visitor_id
      ORDER BY f.timestamp ASC, f.event_id ASC
      ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
    ) = f.track_sequence_number + 1
    THEN leadInFrame(toNullable(f.event), 1) OVER (
      PARTITION BY f.dbt_visitor_id
      ORDER BY f.timestamp ASC, f.event_id ASC
      ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
    )
  END AS event_2,
  CASE
    WHEN leadInFrame(toNullable(f.track_sequence_number), 2) OVER (
      PARTITION BY f.dbt_visitor_id
      ORDER BY f.timestamp ASC, f.event_id ASC
      ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
    ) = f.track_sequence_number + 2
    THEN leadInFrame(toNullable(f.event), 2) OVER (
      PARTITION BY f.dbt_visitor_id
      ORDER BY f.timestamp ASC, f.event_id ASC
      ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
    )
  END AS event_3,
  CASE
    WHEN leadInFrame(toNullable(f.track_sequence_number), 3) OVER (
      PARTITION BY f.dbt_visitor_id
      ORDER BY f.timestamp ASC, f.event_id ASC
      ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
    ) = f.track_sequence_number + 3
    THEN leadInFrame(toNullable(f.event), 3) OVER (
      PARTITION BY f.dbt_visitor_id
      ORDER BY f.timestamp ASC, f.event_id ASC
      ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
    )
  END AS event_4,
  CASE
    WHEN leadInFrame(toNullable(f.track_sequence_number), 4) OVER (
      PARTITION BY f.dbt_visitor_id
      ORDER BY f.timestamp ASC, f.event_id ASC
      ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
    ) = f.track_sequence_number + 4
    THEN leadInFrame(toNullable(f.event), 4) OVER (
      PARTITION BY f.dbt_visitor_id
      ORDER BY f.timestamp ASC, f.event_id ASC
      ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
    )
  END AS event_5
FROM analytics.dbt_track_facts AS f;
