"""`journey-sql demo`: realistic RudderStack tracks in DuckDB, the whole pipeline, and a summary.

The generator is one SQL statement over DuckDB's range(): every random choice is
a hash of (seed, row, purpose), so the same --seed gives the same rows on any
machine and thread count, and ten million events take seconds, not minutes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from journey_sql.errors import ConfigError
from journey_sql.executor import Echo, RunReport, run_pipeline
from journey_sql.settings import Settings

EVENTS_PER_BURST = 8  # a burst is a stretch of activity on one device
EVENTS_PER_PERSON = 40
START = "2026-10-01 00:00:00"
SPAN_MS = 30 * 24 * 3600 * 1000

# Each burst follows one of these scripts (the first ones more often), with some noise,
# so the most common journeys in the summary look like a shop's.
FUNNELS = [
    [
        "Page Viewed",
        "Products Searched",
        "Product List Viewed",
        "Product Viewed",
        "Product Added",
        "Cart Viewed",
        "Checkout Started",
        "Payment Info Entered",
    ],
    [
        "Application Opened",
        "Product List Viewed",
        "Product Viewed",
        "Product Viewed",
        "Product Added",
        "Cart Viewed",
        "Checkout Started",
        "Order Completed",
    ],
    [
        "Page Viewed",
        "Promotion Viewed",
        "Product Viewed",
        "Product Added",
        "Cart Viewed",
        "Product Removed",
        "Product List Viewed",
        "Product Viewed",
    ],
    [
        "Products Searched",
        "Product Viewed",
        "Products Searched",
        "Product Viewed",
        "Product Added",
        "Checkout Started",
        "Payment Info Entered",
        "Order Completed",
    ],
    [
        "Application Opened",
        "Page Viewed",
        "Product List Viewed",
        "Product Viewed",
        "Product List Viewed",
        "Product Viewed",
        "Product List Viewed",
        "Product Viewed",
    ],
]
NOISE = ["Product Viewed", "Product List Viewed", "Products Searched", "Product Clicked", "Promotion Viewed"]


def _array(items: list[str] | list[list[str]]) -> str:
    return "[" + ", ".join(_array(i) if isinstance(i, list) else "'" + i.replace("'", "''") + "'" for i in items) + "]"


def generate_sql(events: int, seed: int, table: str = "rudder.tracks") -> str:
    """One CREATE TABLE statement that fills `table` with `events` events (plus ~1% redelivered copies)."""
    persons = max(1, events // EVENTS_PER_PERSON)
    # u(purpose, key): a uniform number in [0, 1) from a hash, deterministic for a seed
    u = lambda purpose, key: f"(hash({seed}, {key}, '{purpose}') % 1000000) / 1000000.0"  # noqa: E731

    # A UUID-shaped (version 4) string from two 64-bit hashes of `key`: one
    # printf per value is about twice as fast as slicing an md5 digest.
    def uuid(key: str) -> str:
        h1, h2 = f"hash({seed}, {key}, 'uuid-a')", f"hash({seed}, {key}, 'uuid-b')"
        return (
            f"printf('%08x-%04x-4%03x-a%03x-%012x', {h1} >> 32, ({h1} >> 16) & 65535, {h1} & 4095, "
            f"{h2} >> 52, {h2} & 281474976710655)"
        )

    # a redelivered copy arrives 1 to 600 seconds after the first
    received_at = (
        f"t.timestamp + INTERVAL (500 + CAST({u('latency', 't.i')} * 4000 AS INTEGER)) MILLISECOND "
        f"+ CASE WHEN t.copy = 1 THEN INTERVAL (1 + CAST({u('again', 't.i')} * 600 AS INTEGER)) SECOND "
        "ELSE INTERVAL 0 SECOND END"
    )
    return f"""
CREATE OR REPLACE TABLE {table} AS
WITH bursts AS (
  SELECT
    b,
    hash({seed}, b, 'person') % {persons} AS person,
    CAST({u("start", "b")} * {SPAN_MS} AS BIGINT) AS start_ms,
    -- 1 in 20 bursts is a batch flush: every event carries the same timestamp
    {u("batch", "b")} < 0.05 AS is_batch,
    -- some bursts pause for 40 minutes part way: two sessions on one device
    CAST(floor({u("split", "b")} * 16) AS INTEGER) AS split_at,
    CAST(floor(pow({u("funnel", "b")}, 2) * {len(FUNNELS)}) AS INTEGER) AS funnel
  FROM range(0, {(events + EVENTS_PER_BURST - 1) // EVENTS_PER_BURST}) AS t(b)
),
people AS (
  SELECT
    p AS person,
    1 + CAST(floor({u("devices", "p")} * 3) AS INTEGER) AS devices,
    {u("identified", "p")} < 0.6 AS identifies,
    {u("shares", "p")} < 0.05 AS shares_device,
    'usr_' || substr(md5('{seed}:user:' || p), 1, 12) AS user_key
  FROM range(0, {persons}) AS t(p)
),
raw AS (
  -- copy 0 is every event; copy 1 is its redelivery, for about 1 event in 100
  -- (at-least-once delivery). Joining a two-row table here, rather than a
  -- UNION ALL of two SELECTs over the finished rows at the end, computes each
  -- event's columns once instead of twice.
  SELECT
    e.i,
    c.copy,
    e.i % {EVENTS_PER_BURST} AS k,
    b.person,
    p.identifies,
    p.user_key,
    CAST(floor({u("device", "b.b")} * p.devices) AS INTEGER) AS device,
    p.shares_device,
    b.funnel,
    b.start_ms + CASE WHEN b.is_batch THEN 0 ELSE
      (e.i % {EVENTS_PER_BURST}) * 45000 + CAST({u("jitter", "e.i")} * 40000 AS BIGINT)
      + CASE WHEN e.i % {EVENTS_PER_BURST} >= b.split_at THEN 2400000 ELSE 0 END
    END AS ts_ms
  FROM range(0, {events}) AS e(i)
  JOIN range(0, 2) AS c(copy) ON c.copy = 0 OR {u("duplicate", "e.i")} < 0.01
  JOIN bursts AS b ON b.b = e.i // {EVENTS_PER_BURST}
  JOIN people AS p ON p.person = b.person
),
placed AS (
  SELECT
    r.i, r.copy, r.k, r.user_key, r.funnel,
    -- a shared family computer: device 0 of this person is device 0 of the previous one
    CASE WHEN r.shares_device AND r.device = 0 AND r.person > 0 THEN r.person - 1 ELSE r.person END AS device_owner,
    r.device,
    r.identifies AND r.ts_ms >= CAST({u("identify_at", "r.person * 7 + r.device")} * {SPAN_MS} AS BIGINT)
      AS logged_in,
    {u("server", "r.i")} < 0.04 AS server_side,
    {u("noid", "r.i")} < 0.0005 AS no_identity,
    {u("event", "r.i")} AS pick,
    r.ts_ms
  FROM raw AS r
),

tracked AS (
  SELECT
    {uuid("p.i")} AS id,
    CASE WHEN p.no_identity OR (p.logged_in AND p.server_side) THEN NULL
      ELSE {uuid("'device', p.device_owner, p.device")} END AS anonymous_id,
    CASE WHEN p.logged_in AND NOT p.no_identity THEN p.user_key END AS user_id,
    CASE
      WHEN p.logged_in AND p.server_side THEN 'Order Completed'
      WHEN p.pick < 0.15 THEN {_array(NOISE)}[1 + CAST(floor(p.pick / 0.15 * {len(NOISE)}) AS INTEGER)]
      ELSE {_array(FUNNELS)}[1 + p.funnel][1 + p.k]
    END AS event,
    make_timestamp(epoch_us(TIMESTAMP '{START}') + p.ts_ms * 1000) AS timestamp,
    p.logged_in AND p.server_side AS from_server,
    p.i,
    p.copy
  FROM placed AS p
)
SELECT
  t.id, t.anonymous_id, t.user_id, t.event,
  lower(replace(t.event, ' ', '_')) AS event_text,
  t.timestamp,
  t.timestamp - INTERVAL (CAST({u("skew", "t.i")} * 900 AS INTEGER)) MILLISECOND AS original_timestamp,
  t.timestamp + INTERVAL (CAST({u("sent", "t.i")} * 400 AS INTEGER)) MILLISECOND AS sent_at,
  {received_at} AS received_at,
  CASE WHEN t.from_server THEN 'server' ELSE 'web' END AS channel,
  CASE WHEN t.from_server THEN 'rudder-sdk-node' ELSE 'RudderLabs JavaScript SDK' END AS context_library_name,
  CASE WHEN t.from_server THEN '2.1.4' ELSE '3.11.2' END AS context_library_version,
  '203.0.113.' || CAST(hash({seed}, t.anonymous_id) % 250 AS VARCHAR) AS context_ip,
  CASE WHEN t.from_server THEN NULL ELSE
    ['en-US', 'en-GB', 'de-DE', 'fr-FR', 'es-ES'][1 + CAST(hash({seed}, t.anonymous_id, 'locale') % 5 AS INTEGER)] END
    AS context_locale,
  CASE WHEN t.from_server THEN NULL ELSE '/' || lower(replace(t.event, ' ', '-')) END AS context_page_path,
  CASE WHEN t.from_server THEN NULL ELSE 'https://shop.example.com/' || lower(replace(t.event, ' ', '-')) END
    AS context_page_url,
  CASE WHEN t.from_server THEN NULL ELSE
    ['Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15',
     'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36',
     'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148'
    ][1 + CAST(hash({seed}, t.anonymous_id, 'ua') % 3 AS INTEGER)] END AS context_user_agent,
  CASE WHEN t.from_server THEN NULL ELSE 1440 END AS context_screen_width,
  CASE WHEN t.from_server THEN NULL ELSE 900 END AS context_screen_height,
  'src_2f9aQx1' AS context_source_id,
  'rudder-' || CAST(t.i % 4 AS VARCHAR) AS context_destination_id,
  {received_at} AS uuid_ts
FROM tracked AS t
"""


def generate(con: Any, events: int, seed: int, schema: str = "rudder", table: str = "tracks") -> None:
    """Fill schema.table on a DuckDB connection with sample tracks."""
    if events < 1:
        raise ConfigError("--events must be at least 1.")
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    # Row order carries no meaning here; not preserving it lets DuckDB write the
    # table from both threads without buffering ten million rows to keep order.
    (previous,) = con.execute("SELECT current_setting('preserve_insertion_order')").fetchone()
    con.execute("SET preserve_insertion_order = false")
    try:
        con.execute(generate_sql(events, seed, f"{schema}.{table}"))
    finally:
        con.execute(f"SET preserve_insertion_order = {'true' if previous else 'false'}")


# The funnel the demo's report shows: the shop's scripts in FUNNELS lead there.
DEMO_FUNNEL = ["Product Viewed", "Product Added", "Checkout Started", "Order Completed"]
REPORT_FILE = "journey-report.html"


def summarise(con: Any, settings: Settings) -> dict[str, Any]:
    s = settings.schema
    events, visitors = con.execute(
        f"SELECT COUNT(*), COUNT(DISTINCT dbt_visitor_id) FROM {s}.dbt_mapped_tracks"
    ).fetchone()
    sessions, median_minutes, median_events = con.execute(
        f"""
        SELECT COUNT(*), median(minutes), median(n) FROM (
          SELECT (epoch_us(max(timestamp)) - epoch_us(min(timestamp))) / 60e6 AS minutes, COUNT(*) AS n
          FROM {s}.dbt_track_facts GROUP BY session_id)
        """
    ).fetchone()
    return {
        "events": events,
        "visitors": visitors,
        "sessions": sessions,
        "median_session_minutes": median_minutes,
        "median_events_per_session": median_events,
    }


def run_demo(
    database: str,
    events: int,
    seed: int,
    settings: Settings,
    threads: int | None = None,
    memory_limit: str | None = None,
    echo: Echo = lambda _: None,
) -> tuple[RunReport, dict[str, Any]]:
    from journey_sql.analysis import top_paths
    from journey_sql.engines import connect
    from journey_sql.report import build_report, write_report

    engine = connect(f"duckdb:///{database}", threads=threads, memory_limit=memory_limit, create=True)
    report_path = Path(database).resolve().parent / REPORT_FILE
    try:
        echo(f"generating {events:,} sample events in {database} ({settings.source_schema}.{settings.source_table})")
        generate(engine.con, events, seed, settings.source_schema, settings.source_table)  # type: ignore[attr-defined]
        report = run_pipeline(engine, settings, echo=echo)
        summary = summarise(engine.con, settings)  # type: ignore[attr-defined]
        summary["paths"] = top_paths(engine, settings, steps=5, top=10)
        data = build_report(engine, settings, DEMO_FUNNEL)
    finally:
        engine.close()
    summary["report_bytes"] = write_report(data, report_path)
    summary["report"] = str(report_path)
    print_summary(summary, report, database, settings)
    return report, summary


def print_summary(summary: dict[str, Any], report: RunReport, database: str, settings: Settings) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    overview = Table(title=f"journey-sql demo: {database}", show_header=False)
    overview.add_column(style="bold")
    overview.add_column(justify="right")
    src = report.source
    overview.add_row("source rows", f"{src.rows:,}")
    overview.add_row("duplicate deliveries dropped", f"{src.duplicate_deliveries:,}")
    overview.add_row("events left out (no identity)", f"{report.events_left_out:,}")
    overview.add_row("events", f"{summary['events']:,}")
    overview.add_row("visitors", f"{summary['visitors']:,}")
    overview.add_row(f"sessions ({settings.session_timeout:g} min timeout)", f"{summary['sessions']:,}")
    overview.add_row("median session length", f"{summary['median_session_minutes'] or 0:.1f} min")
    overview.add_row("median events per session", f"{summary['median_events_per_session'] or 0:g}")
    console.print(overview)
    from journey_sql.formats import format_paths

    # the same paths as `journey-sql paths`: each session once, from its start
    console.print(format_paths(summary["paths"], "table"), soft_wrap=True)
    console.print(
        f"Tables are in {database}, schema {settings.schema}. Look at them with the DuckDB CLI or Python:\n"
        f"  python -c \"import duckdb; duckdb.connect('{database}').sql("
        f"'SELECT * FROM {settings.schema}.dbt_tracks_flow LIMIT 10').show()\"",
        soft_wrap=True,  # a command to copy must stay on one line
    )
    console.print(
        f"The report is {summary['report']} ({summary['report_bytes']:,} bytes): open it in a browser, "
        "it needs no network.",
        soft_wrap=True,
    )
