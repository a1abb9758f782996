"""The promise: the same events give the same tables on every engine, equal to the reference.

Each engine runs once per test session (clusters and SparkSessions are slow to
start); every hypothesis example and fixture reloads the source table there.
"""

from __future__ import annotations

from compare import assert_matches_reference
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import compute
from reference import funnel as reference_funnel
from reference import paths as reference_paths
from strategies import examples, pipeline_case

from journey_sql.answers.funnel import funnel
from journey_sql.answers.paths import top_paths
from journey_sql.answers.report import build_report
from journey_sql.settings.options import Settings

# Counted per session in dbt_session_track_facts: two names that differ only in case
# ("page viewed" is another event), a non-ASCII one, and one that never occurs.
COUNTED = ("Page Viewed", "Ärger", "Checkout Started")


# engine_harness (tests/conftest.py): each engine once per test session, shared with test_incremental.py


@given(pipeline_case())
@settings(max_examples=examples(15))
def test_every_engine_matches_reference(engine_harness, data: tuple[float, int, list]) -> None:
    timeout, depth, rows = data
    engine_harness.load(rows)
    s = Settings.create(session_timeout=timeout, depth=depth, count_events=COUNTED)
    engine_harness.run(s)
    assert_matches_reference(
        engine_harness.fetch(s),
        compute(rows, timeout, depth, COUNTED),
        f"{engine_harness.name} timeout={timeout} depth={depth}",
    )


def test_every_engine_matches_reference_on_demo_data(engine_harness, demo_rows) -> None:
    counted = ("Product Viewed", "Order Completed")
    s = Settings.create(session_timeout=20, depth=4, count_events=counted)
    engine_harness.load(demo_rows)
    engine_harness.run(s)
    tables = compute(demo_rows, 20, 4, counted)
    assert_matches_reference(engine_harness.fetch(s), tables, engine_harness.name)

    # the answers run on every engine too, and agree with the reference's own counting
    engine = engine_harness.engine
    for steps, top, start in [(5, 10, None), (3, 6, "Product Added")]:
        got = top_paths(engine, s, steps, top, start)
        total, want = reference_paths(tables, steps, top, start)
        assert [(p.steps, p.ended, p.sessions) for p in got.paths] == want, (engine_harness.name, steps, start)
        assert got.total_sessions == total
    funnel_steps = ["Product Viewed", "Product Added", "Product Viewed", "Order Completed"]
    for by in ("session", "visitor"):
        got_funnel = funnel(engine, s, funnel_steps, by)
        assert (got_funnel.total_units, [f.units for f in got_funnel.steps]) == reference_funnel(
            tables, funnel_steps, by
        )
    report = build_report(engine, s, funnel_steps[:2])
    assert (report.events, report.sessions, report.visitors) == (
        len(tables.track_facts),
        len(tables.session_tracks),
        len(tables.user_session_facts),
    )
    assert sum(n for _, n in report.durations) == sum(n for _, n in report.sessions_per_day) == report.sessions


def _as_named_table(harness, rows: list, table: str) -> None:
    """RudderStack's pages/screens tables: the page or screen `name` where tracks have `event`.

    Loaded through the harness in the tracks layout (each engine's own types), then
    exposed as a view that renames the column; the view's SQL is transpiled like ours.
    """
    import sqlglot

    harness.engine.execute(f"DROP VIEW IF EXISTS rudder.{table}")  # it holds on to the table load replaces
    harness.load(rows, table=f"{table}_raw")
    dialect = harness.engine.dialect
    view = sqlglot.parse_one(
        f"CREATE OR REPLACE VIEW rudder.{table} AS SELECT r.id, r.anonymous_id, r.user_id, r.event AS name, "
        f"r.timestamp, r.received_at FROM rudder.{table}_raw AS r",
        read="duckdb",
    )
    if not dialect.create_or_replace:
        view.set("replace", False)
    harness.engine.execute(dialect.generate(dialect.transpile(view)))


def _split_tables(rows: list, picks: list[int]) -> tuple[list, list, list, list]:
    """Rows dealt to tracks/pages/screens; the reference sees the union with the documented event names.
    Copies of one id may land in different tables: they dedup as redeliveries (docs/semantics.md)."""
    tables: list[list] = [[], [], []]
    union = []
    for row, pick in zip(rows, picks, strict=False):
        tables[pick].append(row)
        name = row["event"]
        if pick == 1:
            union.append({**row, "event": "Page" if name is None else f"Page: {name}"})
        elif pick == 2:
            union.append({**row, "event": "Screen" if name is None else f"Screen: {name}"})
        else:
            union.append(row)
    return tables[0], tables[1], tables[2], union


@given(pipeline_case(), st.lists(st.integers(0, 2), min_size=200, max_size=200))
@settings(max_examples=examples(3))
def test_tracks_pages_and_screens_union_matches_reference(engine_harness, data, picks: list[int]) -> None:
    timeout, depth, rows = data
    tracks, pages, screens, union = _split_tables(rows, picks)
    engine_harness.load(tracks)
    _as_named_table(engine_harness, pages, "pages")
    _as_named_table(engine_harness, screens, "screens")
    s = Settings.create(session_timeout=timeout, depth=depth, source_table=["tracks", "pages", "screens"])
    engine_harness.run(s)
    assert_matches_reference(
        engine_harness.fetch(s), compute(union, timeout, depth), f"{engine_harness.name} tracks+pages+screens"
    )


def test_snowplow_layout_matches_reference(engine_harness, demo_rows) -> None:
    """Snowplow's atomic.events names, as a view over the demo's events, read with --layout snowplow.
    One run per engine (Spark takes ~15 s a run); tests/test_sources_engines.py draws hypothesis examples
    on DuckDB and Postgres."""
    import sqlglot

    timeout, depth, rows = 20, 4, demo_rows
    engine = engine_harness.engine
    engine.create_schema("atomic")
    engine.execute("DROP VIEW IF EXISTS atomic.events")  # it holds on to the table load replaces
    engine_harness.load(rows, table="snowplow_raw")
    dialect = engine.dialect
    view = sqlglot.parse_one(
        "CREATE OR REPLACE VIEW atomic.events AS SELECT t.id AS event_id, t.anonymous_id AS domain_userid, "
        "t.user_id, t.event AS event_name, t.timestamp AS derived_tstamp, t.received_at AS collector_tstamp, "
        "'web' AS platform FROM rudder.snowplow_raw AS t",
        read="duckdb",
    )
    if not dialect.create_or_replace:
        view.set("replace", False)
    engine.execute(dialect.generate(dialect.transpile(view)))
    s = Settings.create(layout="snowplow", session_timeout=timeout, depth=depth)
    engine_harness.run(s)
    assert_matches_reference(engine_harness.fetch(s), compute(rows, timeout, depth), f"{engine_harness.name} snowplow")
