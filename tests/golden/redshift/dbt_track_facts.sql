
-- dbt_track_facts: events with session and sequence number
DROP TABLE IF EXISTS analytics.dbt_track_facts;
CREATE TABLE analytics.dbt_track_facts AS
WITH flagged AS (
  SELECT
    t.anonymous_id,
    t."timestamp",
    t.event_id,
    t.event,
    t.dbt_visitor_id,
    CASE
      WHEN (
        t.idle_time_minutes IS NULL
        OR t.idle_time_minutes > CAST(1800000000 AS DOUBLE PRECISION) / 60000000
      )
      THEN 1
      ELSE 0
    END AS opens_session
  FROM analytics.dbt_mapped_tracks AS t
), sessioned AS (
  SELECT
    f.anonymous_id,
    f."timestamp",
    f.event_id,
    f.event,
    f.dbt_visitor_id,
    CAST(SUM(f.opens_session) OVER (
      PARTITION BY f.dbt_visitor_id
      ORDER BY f."timestamp" ASC, f.event_id ASC
      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    ) AS BIGINT) AS session_sequence_number
  FROM flagged AS f
)
SELECT
  s.anonymous_id,
  s."timestamp",
  s.event_id,
  s.event,
  CAST(s.session_sequence_number AS VARCHAR(65535)) || ' - ' || s.dbt_visitor_id AS session_id,
  s.dbt_visitor_id,
  ROW_NUMBER() OVER (
    PARTITION BY s.dbt_visitor_id, s.session_sequence_number
    ORDER BY s."timestamp" ASC, s.event_id ASC
  ) AS track_sequence_number
FROM sessioned AS s;
