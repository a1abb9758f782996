"""One error path: whatever fails, the user gets one line saying what and what to do, never a traceback.

Also: a source the check accepts always runs (PostgreSQL names created quoted in
upper case), hints repeat the user's own options, URLs are shown as written,
and journey-sql.toml targets are as strict as the top of the file.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner
from compare import assert_matches_reference
from reference import compute

from journey_sql.cli.app import cli
from journey_sql.core.stages import PLAN_STAGES
from journey_sql.demo.data import generate
from journey_sql.settings.options import Settings


def one_line_failure(args: list[str], expect: str) -> str:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # nothing escaped as a traceback
    assert expect in result.output, result.output
    lines = result.output.strip().splitlines()
    # the build's mode and stage lines may come first (progress, on stderr); the failure is the one last line
    assert lines[-1].startswith("Error: ") and expect in lines[-1], result.output
    progress = [line for line in lines[:-1] if not line.startswith(("full build: ", "incremental build: "))]
    assert all(line.split(" ")[0] in {s.name for s in PLAN_STAGES} for line in progress), result.output
    return result.output


@pytest.fixture
def tracks_db(tmp_path: Path) -> Path:
    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    generate(con, 500, seed=3, table="events")
    con.close()
    return path


def test_a_failed_stage_hint_repeats_the_users_options_and_runs(
    tracks_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:

    from harness import break_step

    break_step(monkeypatch, "dbt_session_tracks", "SELECT * FROM no_such_table")
    url = f"duckdb:///{tracks_db}"  # absolute: duckdb:////tmp/...
    output = one_line_failure(
        ["apply", "--connection", url, "--source-table", "events", "--schema", "journeys", "--depth", "9"],
        "Stage dbt_session_tracks failed",
    )
    assert f"on {url}:" in output  # shown as written, four slashes and all
    hint = (
        "journey-sql render --dialect duckdb --stage dbt_session_tracks --source-table events --schema journeys "
        "--depth 9"
    )
    assert f"Run `{hint}`" in output
    rendered = CliRunner().invoke(cli, hint.split()[1:], catch_exceptions=False)
    assert rendered.exit_code == 0 and "journeys.dbt_session_tracks" in rendered.output
    assert "main.events" in rendered.output or "rudder.events" in rendered.output


def test_an_error_while_closing_is_one_line(tracks_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from journey_sql.engines.duckdb import DuckDBEngine

    def close(self: DuckDBEngine) -> None:
        self.con.close()
        raise RuntimeError("IO Error: could not fsync")

    monkeypatch.setattr(DuckDBEngine, "close", close)
    one_line_failure(
        ["apply", "--connection", f"duckdb:///{tracks_db}", "--source-table", "events"],
        "Closing the connection to duckdb:///",
    )


def test_an_unexpected_error_in_any_command_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import journey_sql.api as api

    def broken(*_: Any, **__: Any) -> str:
        raise KeyError("dbt_tracks_flow")

    monkeypatch.setattr(api, "render", broken)
    one_line_failure(
        ["render"], "journey-sql failed: KeyError: 'dbt_tracks_flow'. Run again as `journey-sql --debug render"
    )
    result = CliRunner().invoke(cli, ["--debug", "render"])
    assert result.exit_code == 1 and "Traceback (most recent call last)" in result.output


def test_target_tables_are_strict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    toml = tmp_path / "journey-sql.toml"
    toml.write_text('[targets.dev]\nconnection = "duckdb:///x.duckdb"\n\n[targets.prod]\nconection = "duckdb:///y"\n')
    # a typo in any target is reported, even when another one (or none) is used
    one_line_failure(["render"], "target 'prod': unknown setting 'conection'. Did you mean 'connection'?")
    toml.write_text('[targets.prod]\nconnection = "duckdb:///x.duckdb"\nsesion_timeout = 5\n')
    one_line_failure(["apply", "--target", "prod"], "Did you mean 'session_timeout'?")
    toml.write_text('targets = "prod"\n')
    one_line_failure(["apply", "--target", "prod"], "targets are tables")


# -- PostgreSQL: a source created with quoted upper-case names ------------------------------------


def _rows() -> list[dict[str, Any]]:
    t0 = datetime(2026, 3, 1, 12)
    rows = []
    for i in range(12):
        t = t0 + timedelta(minutes=7 * i)
        rows.append({
            "id": f"e{i}", "anonymous_id": f"a{i % 3}", "user_id": "u1" if i in (4, 5) else None,
            "event": ["Page Viewed", "Product Added"][i % 2], "timestamp": t, "received_at": t,
        })  # fmt: skip
    rows.append(dict(rows[3], received_at=rows[3]["received_at"] + timedelta(seconds=5)))  # a redelivery
    return rows


@pytest.mark.parametrize(
    ("schema", "table", "columns"),
    [
        ('"Rudder"', '"TRACKS"', ['"ID"', '"ANONYMOUS_ID"', '"USER_ID"', '"EVENT"', '"TIMESTAMP"', '"RECEIVED_AT"']),
        ("rudder", '"Tracks"', ["id", "anonymous_id", "user_id", "event", '"timestamp"', "received_at"]),
        ("rudder", "tracks", ['"Id"', "anonymous_id", "user_id", '"Event"', '"timestamp"', "received_at"]),
    ],
    ids=["all-upper", "table-only", "some-columns"],
)
def test_postgres_source_with_quoted_names_passes_the_check_and_runs(
    schema: str, table: str, columns: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engines.pg import PostgresHarness, postgres_engine, shared_cluster

    cluster = shared_cluster()
    database = cluster.database("jsql_quoted", fresh=True)
    rows = _rows()
    with cluster.admin(dbname=database) as con:
        con.execute(f"CREATE SCHEMA {schema}")
        types = ["text"] * 4 + ["timestamp"] * 2
        con.execute(
            f"CREATE TABLE {schema}.{table} ({', '.join(f'{c} {t}' for c, t in zip(columns, types, strict=True))})"
        )
        with con.cursor() as cur:
            cur.executemany(
                f"INSERT INTO {schema}.{table} VALUES (%s, %s, %s, %s, %s, %s)",
                [[r[c] for c in ("id", "anonymous_id", "user_id", "event", "timestamp", "received_at")] for r in rows],
            )
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        cli, ["apply", "--connection", cluster.url(database), "--depth", "3"], env={"PGPASSWORD": cluster.password}
    )
    assert result.exit_code == 0, result.output
    assert "12 events placed" in result.output
    harness = PostgresHarness(postgres_engine(database, cluster))
    try:
        settings = Settings.create(depth=3)
        assert_matches_reference(harness.fetch(settings), compute(rows, 30, 3), f"postgres source {schema}.{table}")
    finally:
        harness.close()
