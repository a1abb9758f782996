BEGIN;

CREATE SCHEMA IF NOT EXISTS analytics;

-- jsql_state: what this build was made from: settings, semantics version, newest received_at processed
CREATE OR REPLACE TABLE analytics.jsql_state AS
SELECT
  CAST(1 AS INT) AS semantics_version,
  '0.1.0' AS journey_sql_version,
  CAST(1800000000 AS BIGINT) AS session_timeout_us,
  CAST(5 AS INT) AS depth,
  '[]' AS count_events,
  '25fbfa4782b67eb0' AS source_hash,
  MAX(CASE WHEN ISFINITE(e.received_at) THEN e.received_at END) AS watermark,
  COUNT(*) AS rows_processed
FROM analytics.jsql_events AS e;

COMMIT;
