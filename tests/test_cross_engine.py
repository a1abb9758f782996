"""The promise: the same events give the same tables on every engine, equal to the reference.

Each engine runs once per test session (clusters and SparkSessions are slow to
start); every hypothesis example and fixture reloads the source table there.
"""

from __future__ import annotations

import importlib.util

import pytest
from compare import assert_matches_reference
from harness import SESSIONS, open_session
from hypothesis import given, settings
from reference import compute
from reference import funnel as reference_funnel
from reference import paths as reference_paths
from strategies import pipeline_case

from journey_sql.analysis import funnel, top_paths
from journey_sql.report import build_report
from journey_sql.settings import Settings

# Counted per session in dbt_session_track_facts: two names that differ only in case
# ("page viewed" is another event), a non-ASCII one, and one that never occurs.
COUNTED = ("Page Viewed", "Ärger", "Checkout Started")


def _available(name: str) -> bool:
    module = SESSIONS[name].partition(":")[0]
    return importlib.util.find_spec(module) is not None


ENGINES = [name for name in SESSIONS if _available(name)]


@pytest.fixture(scope="session", params=ENGINES)
def engine_harness(request: pytest.FixtureRequest):
    with open_session(request.param) as harness:
        yield harness


@given(pipeline_case())
@settings(max_examples=15)
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
