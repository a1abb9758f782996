"""The command line, end to end on real DuckDB files: every command, every bad-input case."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import duckdb
import pytest
from click.testing import CliRunner

from journey_sql.cli.app import cli
from journey_sql.core.stages import PLAN_STAGES, STAGE_NAMES
from journey_sql.demo.data import generate

BUILT = {s.name for s in PLAN_STAGES}  # the stage tables and the events table


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def tracks_db(tmp_path: Path) -> Path:
    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    generate(con, 2000, seed=3)
    con.close()
    return path


def invoke(runner: CliRunner, *args: str, env: dict | None = None):
    return runner.invoke(cli, list(args), env=env, catch_exceptions=False)


def table_names(path: Path, schema: str = "analytics") -> set[str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {
            r[0]
            for r in con.execute(
                f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{schema}'"
            ).fetchall()
        }
    finally:
        con.close()


def test_every_command_has_help_text(runner: CliRunner) -> None:
    assert cli.help
    for name, command in cli.commands.items():
        assert command.help, f"command {name} has no help text"
        result = invoke(runner, name, "--help")
        assert result.exit_code == 0
        for param in command.params:
            if isinstance(param, click.Option) and param.name != "help":
                assert param.help, f"{name} {param.opts} has no help text"


def test_render_prints_every_stage_to_stdout(runner: CliRunner) -> None:
    result = invoke(runner, "render", "--dialect", "snowflake", "--source-schema", "rudder", "--schema", "analytics")
    assert result.exit_code == 0
    assert result.output.count("CREATE OR REPLACE TABLE analytics.") == len(STAGE_NAMES) + 2  # and events, state


def test_render_one_stage(runner: CliRunner) -> None:
    result = invoke(runner, "render", "--dialect", "postgres", "--stage", "dbt_session_tracks")
    assert result.exit_code == 0
    assert "analytics.dbt_session_tracks" in result.output
    assert "dbt_tracks_flow AS" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["render", "--dialect", "snowflak"], "Did you mean 'snowflake'"),
        (["render", "--stage", "dbt_sessions"], "Unknown stage 'dbt_sessions'"),
        (["render", "--session-timeout", "0"], "greater than 0"),
        (["render", "--session-timeout", "-5"], "greater than 0"),
        (["render", "--session-timeout", "nan"], "greater than 0"),
        (["render", "--depth", "1"], "between 2 and 50"),
        (["render", "--depth", "51"], "between 2 and 50"),
        (["render", "--schema", "analytics; DROP TABLE x"], "not a plain name"),
        (["render", "--source-table", 'tracks"'], "not a plain name"),
        (["apply", "--connection", "mysql://u@h/db"], "Unknown connection type 'mysql'"),
        (["apply", "--connection", "duckdb://"], "needs a path"),
        (["apply", "--connection", "not a url"], "is not a URL"),
        (["apply", "--connection", "duckdb:///no/such/dir/x.duckdb"], "does not exist"),
        (["apply", "--connection", "duckdb:///no_such_file.duckdb"], "demo --database no_such_file.duckdb`"),
    ],
)
def test_bad_input_is_a_clear_error_not_a_traceback(runner: CliRunner, args: list[str], message: str) -> None:
    result = runner.invoke(cli, args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    assert not Path("no_such_file.duckdb").exists()  # a typo leaves no empty database behind


def test_apply_builds_five_tables_and_reports_on_stderr(runner: CliRunner, tracks_db: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["apply", "--connection", f"duckdb:///{tracks_db}", "--session-timeout", "45", "--depth", "7"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == ""  # SQL and plans only on request
    for stage in (
        "dbt_aliases_mapping",
        "dbt_mapped_tracks",
        "dbt_session_tracks",
        "dbt_track_facts",
        "dbt_tracks_flow",
    ):
        assert stage in result.stderr
    assert "duplicate deliveries dropped" in result.stderr
    assert table_names(tracks_db) == BUILT
    con = duckdb.connect(str(tracks_db), read_only=True)
    cols = [r[0] for r in con.execute("DESCRIBE analytics.dbt_tracks_flow").fetchall()]
    con.close()
    assert cols[-1] == "event_7" and "event_8" not in cols


def test_apply_default_connection_is_journey_duckdb_in_cwd(
    runner: CliRunner, tracks_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cwd = tmp_path / "project"
    cwd.mkdir()
    os.replace(tracks_db, cwd / "journey.duckdb")
    monkeypatch.chdir(cwd)
    result = invoke(runner, "apply", "--schema", "journeys")
    assert result.exit_code == 0, result.output
    assert "dbt_tracks_flow" in table_names(cwd / "journey.duckdb", "journeys")


def test_apply_explain_prints_plans(runner: CliRunner, tracks_db: Path) -> None:
    result = invoke(runner, "apply", "--connection", f"duckdb:///{tracks_db}", "--explain")
    assert result.exit_code == 0
    assert result.stdout.count("-- plan for dbt_") == len(STAGE_NAMES)
    assert "WINDOW" in result.stdout.upper()


def test_missing_source_table_names_schemas_and_tables(runner: CliRunner, tracks_db: Path) -> None:
    result = CliRunner().invoke(cli, ["apply", "--connection", f"duckdb:///{tracks_db}", "--source-table", "trakcs"])
    assert result.exit_code == 1
    assert "rudder.trakcs not found" in result.output and "Tables in rudder: tracks" in result.output
    result = CliRunner().invoke(cli, ["apply", "--connection", f"duckdb:///{tracks_db}", "--source-schema", "segment"])
    assert "Schema segment does not exist" in result.output and "rudder" in result.output


def test_missing_and_mistyped_columns_are_listed(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "bad.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA rudder")
    con.execute("CREATE TABLE rudder.tracks (id VARCHAR, event VARCHAR, timestamp TIMESTAMP)")
    con.execute(
        "CREATE TABLE rudder.typed (id VARCHAR, anonymous_id VARCHAR, user_id BIGINT, event VARCHAR, "
        "timestamp VARCHAR, received_at TIMESTAMP)"
    )
    con.close()
    result = CliRunner().invoke(cli, ["apply", "--connection", f"duckdb:///{path}"])
    assert result.exit_code == 1
    assert "anonymous_id, user_id, received_at" in result.output
    result = CliRunner().invoke(cli, ["apply", "--connection", f"duckdb:///{path}", "--source-table", "typed"])
    assert "user_id is BIGINT" in result.output and "timestamp is VARCHAR" in result.output


def test_failed_stage_leaves_previous_tables_and_source_untouched(
    runner: CliRunner, tracks_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"duckdb:///{tracks_db}"
    assert invoke(runner, "apply", "--connection", url, "--depth", "3").exit_code == 0

    def snapshot() -> dict:
        con = duckdb.connect(str(tracks_db), read_only=True)
        try:
            return {
                t: con.execute(f"SELECT COUNT(*), hash(list(t ORDER BY ALL)) FROM {t} AS t").fetchone()
                for t in ["rudder.tracks", *(f"analytics.{n}" for n in table_names(tracks_db))]
            }
        finally:
            con.close()

    before = snapshot()

    from harness import break_step

    break_step(monkeypatch, "dbt_track_facts", "SELECT * FROM table_that_does_not_exist")
    result = CliRunner().invoke(cli, ["apply", "--connection", url, "--depth", "9", "--session-timeout", "5"])
    assert result.exit_code == 1
    assert "Stage dbt_track_facts failed" in result.output and "No tables were changed" in result.output
    assert snapshot() == before


def test_settings_precedence_flag_over_env_over_file(
    runner: CliRunner, tracks_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cwd = tmp_path
    monkeypatch.chdir(cwd)
    Path(cwd, "journey-sql.toml").write_text(
        f'connection = "duckdb:///{tracks_db}"\nschema = "from_file"\ndepth = 3\nsession_timeout = 10\n'
    )
    out = invoke(runner, "render", "--stage", "dbt_tracks_flow").output
    assert "from_file.dbt_tracks_flow" in out and "event_3" in out and "event_4" not in out
    env = {"JOURNEY_SQL_SCHEMA": "from_env", "JOURNEY_SQL_DEPTH": "4"}
    out = invoke(runner, "render", "--stage", "dbt_tracks_flow", env=env).output
    assert "from_env.dbt_tracks_flow" in out and "event_4" in out
    out = invoke(runner, "render", "--stage", "dbt_tracks_flow", "--schema", "from_flag", env=env).output
    assert "from_flag.dbt_tracks_flow" in out
    # the file's connection is used by apply
    assert invoke(runner, "apply").exit_code == 0
    assert "dbt_tracks_flow" in table_names(tracks_db, "from_file")


def test_bad_config_file_is_reported(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cwd = tmp_path
    monkeypatch.chdir(cwd)
    Path(cwd, "journey-sql.toml").write_text("sesion_timeout = 10\n")
    result = runner.invoke(cli, ["render"])
    assert result.exit_code == 1 and "Did you mean 'session_timeout'" in result.output
    Path(cwd, "journey-sql.toml").write_text("schema = \n")
    result = runner.invoke(cli, ["render"])
    assert result.exit_code == 1 and "not valid TOML" in result.output


def test_schema_equal_to_source_is_refused(runner: CliRunner, tracks_db: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "apply",
            "--connection",
            f"duckdb:///{tracks_db}",
            "--schema",
            "rudder",
            "--source-table",
            "dbt_mapped_tracks",
            "--source-schema",
            "rudder",
        ],
    )
    assert result.exit_code == 1
    assert "would overwrite the source table" in result.output


def test_demo_runs_and_summarises(runner: CliRunner, tmp_path: Path) -> None:
    db = tmp_path / "demo.duckdb"
    result = CliRunner().invoke(
        cli, ["demo", "--events", "3000", "--seed", "5", "--database", str(db)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    for word in ("events", "visitors", "sessions", "median session length", "5-step paths from the session's start"):
        assert word in result.stdout
    assert table_names(db) == BUILT
    # the demo names the report it wrote beside its database, as its last line
    report = tmp_path / "journey-report.html"
    assert report.is_file() and str(report) in "".join(result.stdout.splitlines()[-2:])


def test_render_imports_no_connector_or_engine() -> None:
    code = (
        "import sys\n"
        "from journey_sql.cli.app import main\n"
        "sys.argv = ['journey-sql', 'render', '--dialect', 'snowflake']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('duckdb', 'snowflake', 'google.cloud', 'psycopg', 'redshift_connector', 'pyspark', 'rich')"
        " if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "CREATE OR REPLACE TABLE" in result.stdout


def test_module_entry_point() -> None:
    result = subprocess.run([sys.executable, "-m", "journey_sql", "dialects"], capture_output=True, text=True)
    assert result.returncode == 0 and "snowflake" in result.stdout.split()


def test_duckdb_stores_event_ids_uncompressed_with_the_types_create_table_as_gives(
    runner: CliRunner, tracks_db: Path
) -> None:
    """DuckDB's physical choice (engines/duckdb.py: UNCOMPRESSED_COLUMNS): the event-id columns skip string
    compression; every other column, and every column's type, is what CREATE TABLE AS would give."""
    invoke(runner, "apply", "--connection", f"duckdb:///{tracks_db}")
    con = duckdb.connect(str(tracks_db), read_only=True)
    try:

        def compression(table: str) -> dict[str, set[str]]:
            found: dict[str, set[str]] = {}
            for column, method in con.execute(
                f"SELECT column_name, compression FROM pragma_storage_info('analytics.{table}') "
                "WHERE segment_type <> 'VALIDITY'"
            ).fetchall():
                found.setdefault(column, set()).add(method)
            return found

        for table, id_column in (
            ("jsql_events", "id"),
            ("dbt_mapped_tracks", "event_id"),
            ("dbt_track_facts", "event_id"),
            ("dbt_tracks_flow", "event_id"),
        ):
            methods = compression(table)
            assert methods[id_column] == {"Uncompressed"}, (table, methods)
            assert "Uncompressed" not in methods["event"], (table, methods)  # the rest left to DuckDB
        types = dict(
            con.execute(
                "SELECT column_name, data_type FROM duckdb_columns() "
                "WHERE schema_name = 'analytics' AND table_name = 'dbt_mapped_tracks'"
            ).fetchall()
        )
    finally:
        con.close()
    assert types == {
        "event_id": "VARCHAR",
        "anonymous_id": "VARCHAR",
        "dbt_visitor_id": "VARCHAR",
        "timestamp": "TIMESTAMP",
        "event": "VARCHAR",
        "idle_time_minutes": "DOUBLE",
    }


def test_a_duckdb_file_named_like_the_target_schema_builds(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB names a file's catalog after the file: analytics.duckdb holding schema analytics made
    `analytics.jsql_events` ambiguous ("Ambiguous reference to catalog or schema") and every build failed."""
    monkeypatch.chdir(tmp_path)
    result = invoke(runner, "demo", "--database", "analytics.duckdb", "--events", "2000")
    assert result.exit_code == 0, result.output
    result = invoke(runner, "apply", "--connection", "duckdb:///analytics.duckdb", "--full-refresh")
    assert result.exit_code == 0, result.output
    # nor does the name of the in-memory database the file is attached beside
    result = invoke(runner, "apply", "--connection", "duckdb:///analytics.duckdb", "--schema", "memory")
    assert result.exit_code == 0, result.output
    con = duckdb.connect("analytics.duckdb", read_only=True)
    try:
        assert con.execute("SELECT COUNT(*) FROM analytics.analytics.dbt_tracks_flow").fetchone()[0] > 0
    finally:
        con.close()
