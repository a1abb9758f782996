"""DuckDB, the embedded default, against the plain-Python reference."""

from __future__ import annotations

import pytest
from compare import assert_matches_reference
from harness import DuckDBHarness
from hypothesis import given, settings
from reference import compute
from strategies import examples, pipeline_case

from journey_sql.settings.options import Settings

TIMEOUTS = (30, 45, 0.5, 2.25)


@given(pipeline_case(TIMEOUTS, (2, 3, 5, 7)))
@settings(max_examples=examples(60))
def test_duckdb_matches_reference_on_generated_events(data: tuple[float, int, list]) -> None:
    timeout, depth, rows = data
    harness = DuckDBHarness()
    try:
        harness.load(rows)
        s = Settings.create(session_timeout=timeout, depth=depth)
        report = harness.run(s)
        expected = compute(rows, timeout, depth)
        assert_matches_reference(harness.fetch(s), expected, f"timeout={timeout} depth={depth}")
        assert report.events == len(expected.mapped_tracks)
        assert report.events_left_out == (
            len({r["id"] for r in rows if r["id"] is not None})
            - len(expected.mapped_tracks)
            + sum(r["id"] is None for r in rows)
        )
    finally:
        harness.close()


def _row(i: str, ts: str, anon: str | None = "a", user: str | None = None, event: str = "e") -> dict:
    from datetime import datetime

    t = datetime.fromisoformat(ts)
    return {"id": i, "anonymous_id": anon, "user_id": user, "event": event, "timestamp": t, "received_at": t}


@pytest.mark.parametrize(
    ("second", "sessions"),
    [
        ("2026-01-01 10:30:00", 1),  # exactly the timeout: same session
        ("2026-01-01 10:30:00.001", 2),  # one millisecond past: a new one
        ("2026-01-01 10:29:59.999", 1),
        ("2026-01-01 10:30:00.000001", 2),  # one microsecond past
    ],
)
def test_session_boundary_is_strictly_greater_than_timeout(duckdb_harness, second: str, sessions: int) -> None:
    rows = [_row("1", "2026-01-01 10:00:00"), _row("2", second)]
    duckdb_harness.load(rows)
    s = Settings.create()
    duckdb_harness.run(s)
    got = duckdb_harness.fetch(s)
    assert len(got["dbt_session_tracks"]) == sessions
    assert len(compute(rows).session_tracks) == sessions  # the oracle agrees


def test_idle_time_is_elapsed_not_minute_boundaries(duckdb_harness) -> None:
    # 10:00:59 -> 10:01:00 crosses a minute boundary but is one second apart
    rows = [_row("1", "2026-01-01 10:00:59"), _row("2", "2026-01-01 10:01:00")]
    duckdb_harness.load(rows)
    s = Settings.create()
    duckdb_harness.run(s)
    idle = sorted(r[5] for r in duckdb_harness.fetch(s)["dbt_mapped_tracks"] if r[5] is not None)
    assert idle == [pytest.approx(1 / 60, abs=1e-9)]


def test_anonymous_id_maps_to_latest_identification(duckdb_harness) -> None:
    rows = [
        _row("1", "2026-01-01 10:00:00", anon="dev", user="alice"),
        _row("2", "2026-01-01 11:00:00", anon="dev", user="bob"),
        _row("3", "2026-01-01 11:00:00", anon="dev", user="carol"),  # same instant: greater id wins
        _row("4", "2026-01-01 12:00:00", anon="dev"),
    ]
    duckdb_harness.load(rows)
    s = Settings.create()
    duckdb_harness.run(s)
    aliases = dict(duckdb_harness.fetch(s)["dbt_aliases_mapping"])
    assert aliases == {"dev": "carol", "alice": "alice", "bob": "bob", "carol": "carol"}


def test_flow_follows_the_readme_not_the_seed_sql(duckdb_harness) -> None:
    rows = [_row(str(i), f"2026-01-01 10:0{i}:00", event=f"e{i}") for i in range(1, 8)]
    duckdb_harness.load(rows)
    s = Settings.create(depth=3)
    duckdb_harness.run(s)
    flow = {r[2]: r[6:] for r in duckdb_harness.fetch(s)["dbt_tracks_flow"]}
    assert flow[1] == ("e2", "e3")
    assert flow[6] == ("e7", None)
    assert flow[7] == (None, None)


def test_duplicate_delivery_keeps_earliest_received_copy(duckdb_harness) -> None:
    first = _row("1", "2026-01-01 10:00:00", event="first")
    late = dict(first, event="late", received_at=first["received_at"].replace(minute=5))
    duckdb_harness.load([late, first])
    s = Settings.create()
    report = duckdb_harness.run(s)
    assert [r[4] for r in duckdb_harness.fetch(s)["dbt_mapped_tracks"]] == ["first"]
    assert report.source.duplicate_deliveries == 1


@pytest.mark.parametrize(("timeout", "depth"), [(30, 5), (45, 7), (0.75, 2), (1440, 3)])
def test_held_out_demo_data_matches_reference(timeout: float, depth: int) -> None:
    """Realistic RudderStack-shaped data from a seed used nowhere else, default and other settings."""
    from journey_sql.demo.data import generate

    harness = DuckDBHarness()
    try:
        con = harness.engine.con  # the generator's own table, with every context_* column, is the source
        generate(con, 20_000, seed=20261128)
        cols = ["id", "anonymous_id", "user_id", "event", "timestamp", "received_at"]
        rows = [
            dict(zip(cols, r, strict=True))
            for r in con.execute(f"SELECT {', '.join(cols)} FROM rudder.tracks").fetchall()
        ]
        s = Settings.create(session_timeout=timeout, depth=depth)
        harness.run(s)
        assert_matches_reference(harness.fetch(s), compute(rows, timeout, depth), f"timeout={timeout} depth={depth}")
    finally:
        harness.close()
