BEGIN;

CREATE SCHEMA IF NOT EXISTS analytics;

-- dbt_mapped_tracks: events with visitor and idle time
DROP TABLE IF EXISTS analytics.dbt_mapped_tracks;
CREATE TABLE analytics.dbt_mapped_tracks AS
WITH duplicate_ids AS (
  SELECT
    src.id
  FROM rudder.tracks AS src
  WHERE
    NOT src.id IS NULL
  GROUP BY
    src.id
  HAVING
    COUNT(*) > 1
), events AS (
  SELECT
    u.id,
    u.anonymous_id,
    u.user_id,
    u.event,
    u."timestamp"
  FROM (
    SELECT
      ranked.id,
      ranked.anonymous_id,
      ranked.user_id,
      ranked.event,
      ranked."timestamp"
    FROM (
      SELECT
        src.id,
        src.anonymous_id,
        src.user_id,
        src.event,
        src."timestamp",
        ROW_NUMBER() OVER (
          PARTITION BY src.id
          ORDER BY src.received_at ASC, src."timestamp" ASC, src.event ASC, src.anonymous_id ASC, src.user_id ASC
        ) AS delivery_rank
      FROM rudder.tracks AS src
      INNER JOIN duplicate_ids AS d
        ON d.id = src.id
    ) AS ranked
    WHERE
      ranked.delivery_rank = 1
    UNION ALL
    SELECT
      src.id,
      src.anonymous_id,
      src.user_id,
      src.event,
      src."timestamp"
    FROM rudder.tracks AS src
    LEFT JOIN duplicate_ids AS d
      ON d.id = src.id
    WHERE
      NOT src.id IS NULL AND d.id IS NULL
  ) AS u
  WHERE
    NOT u."timestamp" IS NULL
    AND (
      NOT u.user_id IS NULL OR NOT u.anonymous_id IS NULL
    )
)
SELECT
  e.id AS event_id,
  e.anonymous_id,
  m.dbt_visitor_id,
  e."timestamp",
  e.event,
  CAST((
    CAST(EXTRACT(EPOCH FROM DATE_TRUNC('MINUTE', e."timestamp")) AS BIGINT) * 1000000 + CAST(ROUND(DATE_PART('second', e."timestamp") * 1000000) AS BIGINT)
  ) - LAG(
    (
      CAST(EXTRACT(EPOCH FROM DATE_TRUNC('MINUTE', e."timestamp")) AS BIGINT) * 1000000 + CAST(ROUND(DATE_PART('second', e."timestamp") * 1000000) AS BIGINT)
    )
  ) OVER (PARTITION BY m.dbt_visitor_id ORDER BY e."timestamp" ASC, e.id ASC) AS DOUBLE PRECISION) / 60000000 AS idle_time_minutes
FROM events AS e
INNER JOIN analytics.dbt_aliases_mapping AS m
  ON m.alias = COALESCE(e.user_id, e.anonymous_id);

COMMIT;
