"""`journey-sql demo` never touches data it did not create."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from journey_sql.cli.app import cli


def _user_file(path: Path) -> list[tuple]:
    """A user's own 78-row rudder.tracks (and a table of theirs in analytics), as `apply` would read it."""
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA rudder")
    con.execute(
        "CREATE TABLE rudder.tracks AS SELECT 'real-' || i AS id, 'anon-' || (i % 7) AS anonymous_id, "
        "CASE WHEN i % 3 = 0 THEN 'user-' || (i % 5) END AS user_id, 'Checkout Step ' || (i % 4) AS event, "
        "TIMESTAMP '2025-06-01 08:00:00' + INTERVAL (i * 17) MINUTE AS timestamp, "
        "TIMESTAMP '2025-06-01 08:00:05' + INTERVAL (i * 17) MINUTE AS received_at, 'prod' AS context_source_id "
        "FROM range(78) AS t(i)"
    )
    con.execute("CREATE SCHEMA analytics")
    con.execute("CREATE TABLE analytics.dbt_mapped_tracks AS SELECT 'built from my real data' AS note")
    rows = con.execute("SELECT * FROM rudder.tracks ORDER BY id").fetchall()
    con.close()
    return rows


def _rows(path: Path, table: str = "rudder.tracks") -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
    finally:
        con.close()


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("JOURNEY_SQL_")]:
        monkeypatch.delenv(name)
    return tmp_path


def test_demo_refuses_the_users_default_file_and_every_row_survives(in_tmp: Path) -> None:
    user = in_tmp / "journey.duckdb"  # the file `apply` uses by default
    before = _user_file(user)
    assert len(before) == 78
    result = CliRunner().invoke(cli, ["demo", "--events", "500"])
    assert result.exit_code != 0
    message = result.output.strip()
    assert len(message.splitlines()) == 1, message
    assert "did not create" in message and "--database" in message and "--force" in message
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    assert _rows(user) == before
    assert _rows(user, "analytics.dbt_mapped_tracks") == [("built from my real data",)]


def test_demo_refuses_a_file_with_any_table_of_the_users(in_tmp: Path) -> None:
    con = duckdb.connect(str(in_tmp / "mine.duckdb"))
    con.execute("CREATE TABLE main.orders AS SELECT 1 AS order_id")
    con.close()
    result = CliRunner().invoke(cli, ["demo", "--events", "500", "--database", "mine.duckdb"])
    assert result.exit_code != 0 and "main.orders" in result.output
    assert _rows(in_tmp / "mine.duckdb", "main.orders") == [(1,)]


def test_demo_fills_its_own_file_again_and_force_replaces(in_tmp: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(cli, ["demo", "--events", "500", "--database", "demo.duckdb"])
    assert first.exit_code == 0, first.output
    again = runner.invoke(cli, ["demo", "--events", "800", "--seed", "3", "--database", "demo.duckdb"])
    assert again.exit_code == 0, again.output  # a file the demo made is the demo's to refill
    assert len(_rows(in_tmp / "demo.duckdb")) >= 800
    user = in_tmp / "journey.duckdb"
    _user_file(user)
    forced = runner.invoke(cli, ["demo", "--events", "500", "--force"])
    assert forced.exit_code == 0, forced.output
    assert not any(r[0].startswith("real-") for r in _rows(user))  # replaced, as --force asked


def test_demo_refuses_a_file_with_only_a_view_and_leaves_a_non_duckdb_file_alone(in_tmp: Path) -> None:
    con = duckdb.connect(str(in_tmp / "views.duckdb"))
    con.execute("CREATE VIEW main.my_report AS SELECT 42 AS answer")
    con.close()
    result = CliRunner().invoke(cli, ["demo", "--events", "500", "--database", "views.duckdb"])
    assert result.exit_code != 0 and "main.my_report" in result.output
    csv = in_tmp / "journey.duckdb"
    csv.write_text("id,name\n1,real data\n")
    result = CliRunner().invoke(cli, ["demo", "--events", "500"])
    assert result.exit_code != 0 and len(result.output.strip().splitlines()) == 1
    assert csv.read_text() == "id,name\n1,real data\n"


def test_run_demo_is_a_library_call_that_prints_nothing(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The library returns the run and the summary; only the CLI formats them (journey_sql.cli.output)."""
    from journey_sql.demo.run import run_demo
    from journey_sql.settings.options import Settings

    report, summary = run_demo("lib.duckdb", 1500, 5, Settings.create())
    printed = capsys.readouterr()
    assert printed.out == "" and printed.err == ""
    assert summary["events"] == report.events > 0 and summary["sessions"] > 0
    assert Path(summary["report"]) == in_tmp / "journey-report.html" and summary["report_bytes"] > 0
