"""Odd but legal data: 'infinity'/'-infinity' timestamps (PostgreSQL, DuckDB) are left out like NULL ones, and
apply's summary counts what it leaves out by reason, against the reference's own counts."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot
from click.testing import CliRunner
from compare import assert_matches_reference
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import INFINITE, compute, left_out
from strategies import examples, tracks

from journey_sql.cli.app import cli
from journey_sql.dialects.dialect import DIALECTS, get_dialect
from journey_sql.run.results import RunReport
from journey_sql.settings.options import Settings


@st.composite
def odd_tracks(draw: st.DrawFn) -> tuple[float, list[dict[str, Any]]]:
    timeout = draw(st.sampled_from([30, 0.5]))
    rows = draw(tracks(timeout))
    for row in rows:
        if draw(st.integers(0, 5)) == 0:  # about one row in six, duplicates' copies included
            row["timestamp"] = draw(st.sampled_from(INFINITE))
    return timeout, rows


def _check(harness: Any, timeout: float, rows: list[dict[str, Any]]) -> None:
    harness.load(rows)
    s = Settings.create(session_timeout=timeout)
    report: RunReport = harness.run(s)
    expected = compute(rows, timeout)
    assert_matches_reference(harness.fetch(s), expected, f"timeout={timeout}")
    counts = left_out(rows)
    src = report.source
    assert report.events == len(expected.mapped_tracks)
    assert (src.rows_without_id, src.duplicate_deliveries, src.events_without_timestamp, src.events_without_identity) == (
        counts["rows_without_id"], counts["duplicate_deliveries"], counts["without_timestamp"], counts["without_identity"]
    )  # fmt: skip
    assert (
        report.events_left_out == counts["rows_without_id"] + counts["without_timestamp"] + counts["without_identity"]
    )


@pytest.fixture(scope="module")
def duckdb_odd():
    from harness import DuckDBHarness

    h = DuckDBHarness()
    yield h
    h.close()


@given(odd_tracks())
@settings(max_examples=examples(40))
def test_duckdb_leaves_out_infinite_timestamps_and_counts_by_reason(duckdb_odd, case) -> None:
    _check(duckdb_odd, *case)


@pytest.fixture(scope="module")
def postgres_odd():
    from engines.pg import PostgresHarness, postgres_engine, shared_cluster

    cluster = shared_cluster()
    h = PostgresHarness(postgres_engine(cluster.database("jsql_odd", fresh=True), cluster))
    yield h
    h.close()


@given(odd_tracks())
@settings(max_examples=examples(20))
def test_postgres_leaves_out_infinite_timestamps_and_counts_by_reason(postgres_odd, case) -> None:
    _check(postgres_odd, *case)


def test_infinity_on_postgres_no_longer_fails_the_stage(postgres_odd) -> None:
    """The issue's case: one 'infinity' event used to fail with "cannot convert infinity to bigint"."""
    t = datetime(2026, 1, 1, 12)
    rows = [
        {"id": "1", "anonymous_id": "a", "user_id": None, "event": "e", "timestamp": t, "received_at": t},
        {"id": "2", "anonymous_id": "a", "user_id": None, "event": "e", "timestamp": "infinity", "received_at": t},
        {"id": "3", "anonymous_id": "a", "user_id": None, "event": "e", "timestamp": "-infinity", "received_at": t},
    ]
    _check(postgres_odd, 30, rows)


def test_apply_warns_when_no_event_is_placed_and_breaks_down_what_it_left_out(tmp_path: Path) -> None:
    path = tmp_path / "odd.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA rudder")
    con.execute(
        "CREATE TABLE rudder.tracks (id VARCHAR, anonymous_id VARCHAR, user_id VARCHAR, event VARCHAR, "
        "timestamp TIMESTAMP, received_at TIMESTAMP)"
    )
    con.execute(
        "INSERT INTO rudder.tracks VALUES (NULL, 'a', NULL, 'e', TIMESTAMP '2026-01-01', NULL), "
        "('1', 'a', NULL, 'e', 'infinity', NULL), ('2', 'a', NULL, 'e', NULL, NULL), "
        "('3', NULL, NULL, 'e', TIMESTAMP '2026-01-01', NULL), ('3', NULL, NULL, 'e', TIMESTAMP '2026-01-01', NULL)"
    )
    con.close()
    result = CliRunner().invoke(cli, ["apply", "--connection", f"duckdb:///{path}"], catch_exceptions=False)
    assert result.exit_code == 0, result.output  # a warning, not a failure
    assert (
        "read 5 source rows: 1 duplicate delivery dropped, 4 events left out (1 row without an id, "
        "2 without a usable timestamp (NULL or infinite), 1 with neither user_id nor anonymous_id), "
        "0 events placed in analytics."
    ) in result.output
    assert "warning: no events were placed" in result.output


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_isfinite_only_where_timestamps_can_be_infinite(dialect: str) -> None:
    """finite_timestamps_only: the one construct, per dialect."""
    tree = sqlglot.parse_one("SELECT 1 FROM t WHERE t.ts IS NOT NULL AND isfinite(t.ts) AND t.a = 1", read="duckdb")
    sql = get_dialect(dialect).generate(get_dialect(dialect).transpile(tree), pretty=False)
    if dialect in ("duckdb", "postgres"):
        assert "ISFINITE(t.ts)" in sql
    else:
        assert "ISFINITE" not in sql.upper() and "TRUE" not in sql.upper()
        # (ClickHouse's generator parenthesises the negated test)
        assert any(
            f"{test} AND t.a = 1" in sql for test in ("NOT t.ts IS NULL", "t.ts IS NOT NULL", "NOT (t.ts IS NULL)")
        )
