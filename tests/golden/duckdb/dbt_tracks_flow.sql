BEGIN;

CREATE SCHEMA IF NOT EXISTS analytics;

-- dbt_tracks_flow: each event with the events that follow it
CREATE OR REPLACE TABLE analytics.dbt_tracks_flow AS
SELECT
  f.event_id,
  f.session_id,
  f.track_sequence_number,
  f.event,
  f.dbt_visitor_id,
  f.timestamp,
  LEAD(f.event, 1) OVER (PARTITION BY f.session_id ORDER BY f.track_sequence_number ASC) AS event_2,
  LEAD(f.event, 2) OVER (PARTITION BY f.session_id ORDER BY f.track_sequence_number ASC) AS event_3,
  LEAD(f.event, 3) OVER (PARTITION BY f.session_id ORDER BY f.track_sequence_number ASC) AS event_4,
  LEAD(f.event, 4) OVER (PARTITION BY f.session_id ORDER BY f.track_sequence_number ASC) AS event_5
FROM analytics.dbt_track_facts AS f;

COMMIT;
