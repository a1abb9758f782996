"""paths and funnel against the reference's own computation (tests/reference.py), on DuckDB
through the library with hypothesis data, and from the CLI on DuckDB and PostgreSQL."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import compute
from reference import funnel as reference_funnel
from reference import paths as reference_paths
from strategies import EVENT_POOL, examples, pipeline_case

from journey_sql.answers.funnel import funnel, funnel_sql
from journey_sql.answers.paths import END, paths_sql, top_paths
from journey_sql.cli.app import cli
from journey_sql.core.errors import ConfigError
from journey_sql.dialects.dialect import DIALECTS, get_dialect
from journey_sql.run.pipeline import run_pipeline
from journey_sql.settings.options import Settings


def _row(i: str, minute: float, visitor: str, event: str | None) -> dict[str, Any]:
    t = datetime(2026, 3, 1, 12, 0) + timedelta(minutes=minute)
    return {"id": i, "anonymous_id": visitor, "user_id": None, "event": event, "timestamp": t, "received_at": t}


def _session(visitor: str, events: list[str | None], start: float = 0) -> list[dict[str, Any]]:
    return [_row(f"{visitor}-{start:g}-{k:02d}", start + k, visitor, e) for k, e in enumerate(events)]


# Hand-made sessions (one minute apart; 60 idle minutes start another session):
# repeated events, sessions shorter than K, a start event absent from some
# sessions or not first, an event without a name, and equal counts to order.
ROWS = [
    *_session("v1", ["A", "B", "C", "A", "B"]),
    *_session("v2", ["A", "B", "C", "A", "B"]),
    *_session("v3", ["A", "B"]),
    *_session("v4", ["B", "A", "B", "C"]),
    *_session("v5", ["C", "C"]),
    *_session("v5", ["A", "C", "B"], start=120),  # v5's second session: B after C after A
    *_session("v6", ["X"]),
    *_session("v7", ["A", None, "B"]),
    *_session("v8", ["a", "B"]),  # ties with v3's A B: code point order puts "A" first
]


def _expected_paths(tables, steps: int, top: int, start: str | None) -> dict[str, Any]:
    total, rows = reference_paths(tables, steps, top, start)
    return {
        "total_sessions": total,
        "paths": [
            {
                "steps": list(path),
                "ended": ended,
                "sessions": n,
                "path": [s if s is not None else "(no event name)" for s in path] + ([END] if ended else []),
            }
            for path, ended, n in rows
        ],
    }


def _expected_funnel(tables, steps: list[str], by: str) -> dict[str, Any]:
    total, reached = reference_funnel(tables, steps, by)
    return {"total": total, "units": reached}


# -- the library on DuckDB, hypothesis data ---------------------------------------------------


@pytest.fixture(scope="module")
def duck():
    from harness import DuckDBHarness

    h = DuckDBHarness()
    yield h
    h.close()


step_names = st.sampled_from([*EVENT_POOL, "never happens"])


@given(
    case=pipeline_case(depths=(2,)),
    steps=st.integers(1, 4),
    top=st.integers(1, 6),
    start=st.one_of(st.none(), step_names),
    funnel_steps=st.lists(step_names, min_size=1, max_size=4),
    by=st.sampled_from(["session", "visitor"]),
)
@settings(max_examples=examples(25))
def test_paths_and_funnel_match_reference_on_duckdb(duck, case, steps, top, start, funnel_steps, by) -> None:
    timeout, depth, rows = case
    duck.load(rows)
    s = Settings.create(session_timeout=timeout, depth=depth)
    run_pipeline(duck.engine, s, full_refresh=True)
    tables = compute(rows, timeout, depth)

    result = top_paths(duck.engine, s, steps, top, start)
    want_total, want = reference_paths(tables, steps, top, start)
    got = [(p.steps, p.ended, p.sessions) for p in result.paths]
    assert got == want, f"paths steps={steps} top={top} start={start!r}"
    assert result.total_sessions == want_total

    f = funnel(duck.engine, s, funnel_steps, by)
    want_units, want_reached = reference_funnel(tables, funnel_steps, by)
    assert [step.units for step in f.steps] == want_reached, f"funnel {funnel_steps} by {by}"
    assert f.total_units == want_units
    for prev, step in zip(f.steps, f.steps[1:], strict=False):
        assert step.from_previous == (step.units / prev.units if prev.units else None)


def test_hand_made_cases_have_what_they_claim() -> None:
    """The reference on ROWS, worked out by hand: the cases the CLI tests rely on are there."""
    tables = compute(ROWS, 30, 5)
    # from the first A (v4's is its second event; v5's first session and v6, v8 have none)
    assert reference_paths(tables, 3, 20, "A") == (
        6,
        [
            (("A", "B", "C"), False, 3),
            (("A", "B"), True, 1),  # v3 ended: before any longer path it is a prefix of
            (("A", "C", "B"), False, 1),
            (("A", None, "B"), False, 1),  # an event without a name after every name
        ],
    )
    total, rows = reference_paths(tables, 2, 20)
    assert total == 9
    assert rows == [
        (("A", "B"), False, 3),
        (("A", "C"), False, 1),
        (("A", None), False, 1),
        (("B", "A"), False, 1),
        (("C", "C"), False, 1),
        (("X",), True, 1),
        (("a", "B"), False, 1),  # code point order: "a" after every capital
    ]
    assert reference_funnel(tables, ["A", "B", "B"], "session") == (9, [6, 6, 2])
    assert reference_funnel(tables, ["C", "B"], "visitor") == (8, [4, 3])  # v5: C C, then A C B later


# -- the CLI, DuckDB and PostgreSQL -------------------------------------------------------------


def _check_cli(connection: str, env: dict[str, str]) -> None:
    runner = CliRunner()

    def run(*args: str) -> Any:
        result = runner.invoke(cli, [*args, "--connection", connection], env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result

    run("apply", "--session-timeout", "30")
    tables = compute(ROWS, 30, 5)
    for steps, top, start in [(5, 10, None), (3, 4, "A"), (2, 3, None), (4, 10, "Z"), (1, 2, "B")]:
        args = ["paths", "--steps", str(steps), "--top", str(top), "--format", "json"]
        # "Z" occurs nowhere: an error unless counted as zero on purpose
        allow = ["--allow-missing-events"] if start == "Z" else []
        out = json.loads(run(*args, *(["--start-event", start] if start else []), *allow).stdout)
        want = _expected_paths(tables, steps, top, start)
        assert out["total_sessions"] == want["total_sessions"]
        assert [{k: p[k] for k in ("steps", "ended", "sessions", "path")} for p in out["paths"]] == want["paths"], (
            steps,
            top,
            start,
        )
    for steps, by in [
        (["A", "B", "C"], "session"),
        (["A", "B", "B"], "visitor"),
        (["C", "B"], "visitor"),
        (["Z"], "session"),
    ]:
        allow = ["--allow-missing-events"] if "Z" in steps else []
        out = json.loads(run("funnel", *steps, "--by", by, "--format", "json", *allow).stdout)
        want = _expected_funnel(tables, steps, by)
        assert out[f"total_{by}s"] == want["total"]
        assert [s[f"{by}s"] for s in out["steps"]] == want["units"], (steps, by)
    # the readable table and CSV carry the same numbers
    table = run("paths", "--steps", "2", "--top", "3").stdout
    assert "A → B" in table and "sessions" in table
    csv_out = run("funnel", "A", "B", "--format", "csv").stdout.splitlines()
    assert csv_out[0] == "step,event,sessions,from_previous,from_first"
    assert csv_out[1] == "1,A,6,,1.000000" and csv_out[2] == "2,B,6,1.000000,1.000000"


def _load_duckdb(path: Path, rows: list[dict[str, Any]]) -> None:
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA rudder")
    con.execute(
        "CREATE TABLE rudder.tracks (id VARCHAR, anonymous_id VARCHAR, user_id VARCHAR, event VARCHAR, "
        "timestamp TIMESTAMP, received_at TIMESTAMP)"
    )
    cols = ["id", "anonymous_id", "user_id", "event", "timestamp", "received_at"]
    con.executemany("INSERT INTO rudder.tracks VALUES (?, ?, ?, ?, ?, ?)", [[r[c] for c in cols] for r in rows])
    con.close()


def test_paths_and_funnel_from_the_cli_on_duckdb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _load_duckdb(tmp_path / "w.duckdb", ROWS)
    _check_cli(f"duckdb:///{tmp_path / 'w.duckdb'}", {})


def test_paths_and_funnel_from_the_cli_on_postgres(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("psycopg", reason="psycopg is not installed: pip install 'journey-sql[postgres]'")
    from engines.pg import PostgresHarness, postgres_engine, shared_cluster

    monkeypatch.chdir(tmp_path)
    cluster = shared_cluster()
    # a linguistic collation ('B' before 'a'): tie order must still be by code point
    database = cluster.database("jsql_answers", fresh=True, icu_locale="en-US")
    loader = PostgresHarness(postgres_engine(database, cluster))
    try:
        loader.load(ROWS)
    finally:
        loader.close()
    _check_cli(cluster.url(database, query="sslmode=disable"), {"PGPASSWORD": cluster.password})


# -- SQL for every dialect ------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_answer_sql_parses_back_in_every_dialect(dialect: str) -> None:
    d = get_dialect(dialect)
    s = Settings.create(schema="answers")
    queries = [
        paths_sql(s, dialect),
        paths_sql(s, dialect, 3, 7, "O'Brien \\ quiz"),
        funnel_sql(s, dialect, ["Product Viewed", "Order's done"], "session"),
        funnel_sql(s, dialect, ["A", "A", "B"], "visitor"),
    ]
    for sql in queries:
        tree = sqlglot.parse_one(sql, read=d.sqlglot_name, error_level=sqlglot.ErrorLevel.RAISE)
        assert tree.sql(d.sqlglot_name, pretty=True).replace("EXTRACT(SECOND FROM ", "DATE_PART('second', ") == sql
        assert "answers.dbt_track_facts" in sql
    # the event names arrive as literals, quoted by the dialect's own rules
    literal = sqlglot.exp.Literal.string("O'Brien \\ quiz").sql(d.sqlglot_name)
    assert literal in queries[1]


def test_sql_flag_prints_the_query_for_a_dialect() -> None:
    result = CliRunner().invoke(cli, ["paths", "--sql", "--dialect", "snowflake", "--steps", "2"])
    assert result.exit_code == 0, result.output
    assert "RANK() OVER" in result.output and result.output.rstrip().endswith(";")
    result = CliRunner().invoke(cli, ["funnel", "A", "B", "--sql", "--connection", "postgresql://u@h/db"])
    assert result.exit_code == 0, result.output
    assert "'A'" in result.output and "COLLATE" not in result.output  # sessions need no text order


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["paths", "--steps", "0"], "--steps must be between 1 and 50"),
        (["paths", "--top", "0"], "--top must be at least 1"),
        (["funnel", ""], "needs an event name"),
        (["funnel", *["e"] * 21], "at most 20 steps"),
    ],
)
def test_bad_options_are_one_line_errors(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, [*args, "--sql"])
    assert result.exit_code != 0
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_missing_tables_say_to_apply_first(tmp_path: Path) -> None:
    path = tmp_path / "empty.duckdb"
    duckdb.connect(str(path)).close()
    result = CliRunner().invoke(cli, ["paths", "--connection", f"duckdb:///{path}"])
    assert result.exit_code == 1
    assert "journey-sql apply" in result.output and len(result.output.strip().splitlines()) == 1


def test_funnel_by_must_be_known() -> None:
    with pytest.raises(ConfigError, match="--by must be one of"):
        funnel_sql(Settings.create(), "duckdb", ["A"], "week")
