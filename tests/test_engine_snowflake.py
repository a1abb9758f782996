"""The Snowflake engine: URL and credentials, the CLI end to end on fakesnow, failure safety, the SQL it sends.

fakesnow runs Snowflake SQL on DuckDB in-process behind the real
snowflake.connector API. It cannot tell us (so these tests do not claim to):
  * that quoted identifiers are case-sensitive: it matches "timestamp" to
    TIMESTAMP, hence test_no_lower_case_quoted_identifiers_reach_snowflake;
  * that DDL auto-commits: it rolls back a CREATE inside BEGIN (the engine
    never relies on either, transactional_ddl is False);
  * ALTER TABLE ... SWAP WITH and EXPLAIN USING TEXT: it does not parse them,
    so replace_table renames and explain() returns None there;
  * that CURRENT_DATABASE() is NULL without a database (it answers 'memory'),
    so the engine's check for a named connection without one is untested;
  * authentication, warehouses, roles, grants, QUERY_TAG: the connection
    arguments are checked as arguments, and the connector's own validation is
    exercised with the real connect() for one failing case;
  * NULL ordering, collations and numeric types as Snowflake computes them:
    DuckDB computes them here. The SQL states NULLS LAST where it matters and
    converts epochs with DATE_PART(EPOCH_MICROSECOND, ...), Snowflake's spelling.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlglot
from click.testing import CliRunner
from compare import assert_matches_reference, normalise
from engines.snowflake import SnowflakeHarness, connect_engine, fakesnow_patched, load_tracks
from reference import compute
from sqlglot import exp

from journey_sql.cli.app import cli
from journey_sql.compile.script import render_script
from journey_sql.core.errors import ConfigError, ConnectionError_, MissingDriverError, SourceError
from journey_sql.core.stages import PLAN_STAGES
from journey_sql.engines.base import type_family
from journey_sql.engines.connection import connect, parse_connection
from journey_sql.engines.snowflake import SnowflakeEngine, connect_args
from journey_sql.engines.spec import redact_secrets
from journey_sql.run.checks import check_source
from journey_sql.run.pipeline import run_pipeline
from journey_sql.settings.options import Settings

PASSWORD = "pw-Th1s-must-never-print"
CREDENTIAL_ENV = (
    "SNOWFLAKE_PASSWORD",
    "JOURNEY_SQL_PASSWORD",
    "PRIVATE_KEY_PASSPHRASE",
    "SNOWFLAKE_TOKEN",
    "JOURNEY_SQL_TOKEN",
    "JOURNEY_SQL_PRIVATE_KEY_FILE_PWD",
)


@pytest.fixture(autouse=True)
def no_ambient_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own Snowflake variables must not leak into these tests."""
    for name in CREDENTIAL_ENV:
        monkeypatch.delenv(name, raising=False)


def args_for(url: str) -> dict:
    return connect_args(parse_connection(url))[0]


# -- URL and credentials ------------------------------------------------------


def test_url_becomes_connector_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNOWFLAKE_PASSWORD", PASSWORD)
    args = args_for("snowflake://ME@xy12345.eu-west-1.snowflakecomputing.com/ANALYTICS_DB/STAGE?warehouse=WH&role=R")
    assert args == {
        "account": "xy12345.eu-west-1",
        "user": "ME",
        "password": PASSWORD,
        "database": "ANALYTICS_DB",
        "schema": "STAGE",
        "warehouse": "WH",
        "role": "R",
        "session_parameters": {"QUERY_TAG": "journey-sql"},
    }


def test_private_endpoint_host_port_and_protocol_reach_the_connector(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNOWFLAKE_PASSWORD", PASSWORD)
    args = args_for(
        "snowflake://ME@xy12345/DB?host=xy12345.privatelink.snowflakecomputing.com&port=8443&protocol=https"
    )
    assert (args["account"], args["host"], args["port"], args["protocol"]) == (
        "xy12345",
        "xy12345.privatelink.snowflakecomputing.com",
        8443,
        "https",
    )
    assert {"host", "port", "protocol"}.isdisjoint(args_for("snowflake://ME@xy12345/DB"))
    with pytest.raises(ConfigError, match="port must be a whole number"):
        args_for("snowflake://ME@xy12345/DB?port=https")
    with pytest.raises(ConfigError, match="protocol must be https or http"):
        args_for("snowflake://ME@xy12345/DB?protocol=ftp")


def test_password_from_journey_sql_password_and_never_from_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOURNEY_SQL_PASSWORD", PASSWORD)
    assert args_for("snowflake://u@acct/DB?schema=S")["password"] == PASSWORD
    monkeypatch.setenv("SNOWFLAKE_PASSWORD", "the-snowflake-one")
    assert args_for("snowflake://u@acct/DB")["password"] == "the-snowflake-one"
    with pytest.raises(ConfigError, match="no password in the connection URL") as err:
        parse_connection(f"snowflake://u:{PASSWORD}@acct/DB")
    assert PASSWORD not in str(err.value)


def test_key_pair_uses_the_key_and_its_passphrase_not_the_password(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key = tmp_path / "rsa_key.p8"
    key.write_text("-----BEGIN ENCRYPTED PRIVATE KEY-----\n")
    monkeypatch.setenv("JOURNEY_SQL_PASSWORD", "for-another-warehouse")
    monkeypatch.setenv("PRIVATE_KEY_PASSPHRASE", "key-pass")
    args, secrets = connect_args(parse_connection(f"snowflake://svc@acct/DB?private_key_file={key}"))
    assert args["private_key_file"] == str(key)
    assert args["private_key_file_pwd"] == "key-pass"
    assert "password" not in args
    assert secrets == ["key-pass"]
    with pytest.raises(ConfigError, match="private_key_file .* does not exist"):
        args_for(f"snowflake://svc@acct/DB?private_key_file={tmp_path / 'missing.p8'}")


def test_connection_name_alone_defers_to_connections_toml() -> None:
    assert args_for("snowflake:///?connection_name=dev") == {
        "connection_name": "dev",
        "session_parameters": {"QUERY_TAG": "journey-sql"},
    }
    # what the URL says overrides the named connection, in the connector
    assert args_for("snowflake://u@acct/DB?connection_name=dev&role=R")["role"] == "R"


def test_sso_and_oauth_authenticators(monkeypatch: pytest.MonkeyPatch) -> None:
    assert args_for("snowflake://me@acct/DB?authenticator=externalbrowser")["authenticator"] == "externalbrowser"
    monkeypatch.setenv("SNOWFLAKE_TOKEN", "tok")
    assert args_for("snowflake://me@acct/DB?authenticator=oauth")["token"] == "tok"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("snowflake://u@acct/DB?warehouse=WH", "No Snowflake credentials .* SNOWFLAKE_PASSWORD"),
        ("snowflake://u@acct/DB?warehose=WH&authenticator=externalbrowser", "Did you mean 'warehouse'"),
        ("snowflake://u@acct?authenticator=externalbrowser", "lacks DATABASE"),
        ("snowflake://u@acct/DB?authenticator=externalbrowser&login_timeout=soon", "login_timeout"),
    ],
)
def test_bad_urls_say_what_to_do(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        args_for(url)


def test_failed_connection_is_a_connection_error_without_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the connector's real connect() (fakesnow may be patched in by another test module):
    it rejects an unknown authenticator before any network traffic."""
    connector = pytest.importorskip("snowflake.connector", reason="the snowflake extra is not installed")
    monkeypatch.setattr(connector, "connect", connector.Connect)
    monkeypatch.setenv("SNOWFLAKE_PASSWORD", PASSWORD)
    with pytest.raises(ConnectionError_, match="Cannot connect to Snowflake .*Unknown authenticator") as err:
        connect("snowflake://u@acct/DB?authenticator=no_such_auth&login_timeout=5")
    assert PASSWORD not in str(err.value)
    assert redact_secrets(f"bad password {PASSWORD}!", [PASSWORD, None]) == "bad password ***!"


def test_missing_connector_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNOWFLAKE_PASSWORD", PASSWORD)
    monkeypatch.setitem(sys.modules, "snowflake.connector", None)
    with pytest.raises(MissingDriverError, match=r"pip install 'journey-sql\[snowflake\]'"):
        connect("snowflake://u@acct/DB?warehouse=WH")


def test_render_imports_no_connector(tmp_path: Path) -> None:
    """A user with only the snowflake extra (or none) can render every dialect."""
    code = (
        "import contextlib, io, sys\n"
        "from journey_sql.cli.app import cli\n"
        "from journey_sql.dialects.dialect import DIALECTS\n"
        "for name in DIALECTS:\n"
        "    with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "        cli(['render', '--dialect', name], standalone_mode=False)\n"
        "    assert out.getvalue().count('CREATE') >= 5, name\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('snowflake', 'duckdb', 'psycopg', 'psycopg2', 'google', 'pyspark', 'redshift_connector', 'databricks')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    assert out.strip() == "[]"


# -- on fakesnow --------------------------------------------------------------


@pytest.fixture(scope="module")
def fake_snowflake():
    with fakesnow_patched():
        yield


@pytest.fixture
def rows(demo_rows: list[dict]) -> list[dict]:
    return demo_rows[:600]


def cli_url(database: str) -> str:
    return f"snowflake://journey@acct/{database}?warehouse=WH&role=TRANSFORMER"


def apply(*extra: str, database: str) -> object:
    return CliRunner().invoke(
        cli,
        ["apply", "--connection", cli_url(database), "--session-timeout", "20", "--depth", "4", *extra],
        env={"JOURNEY_SQL_PASSWORD": PASSWORD},
    )


def analytics_tables(engine: SnowflakeEngine, schema: str = "analytics") -> list[str]:
    return sorted(t.lower() for t in engine.tables(schema))


def test_connect_goes_through_the_connector_api(fake_snowflake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNOWFLAKE_PASSWORD", PASSWORD)
    engine = connect(cli_url("API_DB"))
    try:
        assert isinstance(engine, SnowflakeEngine)
        assert type(engine.con).__module__.startswith("fakesnow")  # the patch saw the call
        assert engine.query("SELECT current_database()") == [("API_DB",)]
        assert PASSWORD not in engine.describe()
    finally:
        engine.close()


def test_apply_builds_the_five_tables_and_rebuilds_them(fake_snowflake, rows: list[dict]) -> None:
    engine = connect_engine(cli_url("CLI_DB"))
    harness = SnowflakeHarness(engine)
    settings = Settings.create(session_timeout=20, depth=4)
    try:
        load_tracks(engine, rows)
        first = apply(database="CLI_DB")
        assert first.exit_code == 0, first.output
        assert PASSWORD not in first.output
        assert_matches_reference(harness.fetch(settings), compute(rows, 20, 4), "snowflake via CLI")
        # Again over existing tables (the rename-aside path), from different data.
        fewer = rows[: len(rows) // 2]
        load_tracks(engine, fewer)
        second = apply(database="CLI_DB")
        assert second.exit_code == 0, second.output
        assert_matches_reference(harness.fetch(settings), compute(fewer, 20, 4), "snowflake rebuilt")
        assert analytics_tables(engine) == sorted(s.name for s in PLAN_STAGES)  # no __jsql_build/__jsql_old left
    finally:
        engine.close()


def test_a_failing_stage_leaves_the_previous_tables(
    fake_snowflake, rows: list[dict], monkeypatch: pytest.MonkeyPatch
) -> None:

    engine = connect_engine(cli_url("FAIL_DB"))
    harness = SnowflakeHarness(engine)
    settings = Settings.create(session_timeout=20, depth=4)
    try:
        load_tracks(engine, rows)
        assert apply(database="FAIL_DB").exit_code == 0
        before = harness.fetch(settings)
        load_tracks(engine, rows[:100])  # a rebuild would change every table

        from harness import break_step

        break_step(monkeypatch, "dbt_session_tracks", "SELECT no_such_column")
        result = apply(database="FAIL_DB")
        assert result.exit_code == 1
        assert "Stage dbt_session_tracks failed" in result.output and "No tables were changed" in result.output
        assert harness.fetch(settings) == before
        assert analytics_tables(engine) == sorted(s.name for s in PLAN_STAGES)  # the state too: it failed before
    finally:
        engine.close()


def test_a_source_created_with_quoted_lower_case_names_is_read_by_them(
    fake_snowflake, rows: list[dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Snowflake would not find "tracks" or "id" unquoted (fakesnow would): the SQL must name them as created."""
    engine = connect_engine(cli_url("LOWER_DB"))
    harness = SnowflakeHarness(engine)
    settings = Settings.create(source_schema="lower_src", session_timeout=20, depth=4)
    try:
        engine.execute('CREATE SCHEMA IF NOT EXISTS "lower_src"')
        engine.execute(
            'CREATE OR REPLACE TABLE "lower_src"."tracks" ("id" VARCHAR, "anonymous_id" VARCHAR, "user_id" VARCHAR, '
            '"event" VARCHAR, "timestamp" TIMESTAMP_TZ, "received_at" TIMESTAMP_TZ)'
        )
        with engine.con.cursor() as cur:
            cur.executemany(
                'INSERT INTO "lower_src"."tracks" VALUES (%s, %s, %s, %s, %s, %s)',
                [[r[c] for c in ("id", "anonymous_id", "user_id", "event", "timestamp", "received_at")] for r in rows],
            )
        seen: list[str] = []
        real_execute = SnowflakeEngine.execute

        def recording(self: SnowflakeEngine, sql: str) -> None:
            seen.append(sql)
            real_execute(self, sql)

        monkeypatch.setattr(SnowflakeEngine, "execute", recording)
        result = apply("--source-schema", "lower_src", database="LOWER_DB")
        assert result.exit_code == 0, result.output
        reads = [sql for sql in seen if "lower_src" in sql.lower()]
        assert len(reads) == 1  # the events step, the run's one read of the source
        for sql in reads:
            assert '"lower_src"."tracks"' in sql and '"id" AS id' in sql and '"timestamp" AS timestamp' in sql, sql
        assert_matches_reference(harness.fetch(settings), compute(rows, 20, 4), "snowflake lower-case source")
    finally:
        engine.close()


def test_ctrl_c_on_a_staging_engine_says_what_it_left(
    fake_snowflake, rows: list[dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Snowflake commits DDL as it goes: Ctrl-C while building leaves the old tables; while swapping, says how many."""
    engine = connect_engine(cli_url("INT_DB"))
    harness = SnowflakeHarness(engine)
    settings = Settings.create(session_timeout=20, depth=4)
    try:
        load_tracks(engine, rows)
        assert apply(database="INT_DB").exit_code == 0
        before = harness.fetch(settings)
        load_tracks(engine, rows[:100])
        real_execute, real_replace = SnowflakeEngine.execute, SnowflakeEngine.replace_table

        def interrupted_in_stage_3(self: SnowflakeEngine, sql: str) -> None:
            if "dbt_session_tracks__jsql_build" in sql and sql.lstrip().upper().startswith("CREATE"):
                raise KeyboardInterrupt
            real_execute(self, sql)

        monkeypatch.setattr(SnowflakeEngine, "execute", interrupted_in_stage_3)
        result = apply(database="INT_DB")
        assert result.exit_code == 130, result.output
        assert result.output.strip().splitlines()[-1] == (
            "Error: Interrupted (Ctrl-C) while building: no tables were changed "
            "(the __jsql_build staging tables are dropped)."
        )
        assert harness.fetch(settings) == before
        assert analytics_tables(engine) == sorted(s.name for s in PLAN_STAGES)
        monkeypatch.setattr(SnowflakeEngine, "execute", real_execute)

        calls = []

        def interrupted_third_swap(self: SnowflakeEngine, final: exp.Table, staging: exp.Table) -> None:
            calls.append(final.name)
            if len(calls) == 3:
                raise KeyboardInterrupt
            real_replace(self, final, staging)

        monkeypatch.setattr(SnowflakeEngine, "replace_table", interrupted_third_swap)
        result = apply(database="INT_DB")
        assert result.exit_code == 130, result.output
        assert (
            f"while putting the new tables in place: 2 of {len(PLAN_STAGES)} tables in analytics are new"
            in result.output
        )
        # the state was dropped before the swaps: the next apply rebuilds everything
        assert "the next apply rebuilds everything" in result.output
        assert analytics_tables(engine) == sorted(s.name for s in PLAN_STAGES if s.name != "jsql_state")
    finally:
        engine.close()


def test_replace_table_puts_the_old_table_back_when_the_new_one_cannot_move(fake_snowflake) -> None:
    engine = connect_engine(cli_url("SWAP_DB"))
    try:
        engine.create_schema("analytics")
        engine.execute("CREATE OR REPLACE TABLE analytics.flow AS SELECT 'old' AS v")
        final, missing = exp.table_("flow", db="analytics"), exp.table_("flow__jsql_build", db="analytics")
        with pytest.raises(Exception, match="(?i)does not exist"):
            engine.replace_table(final, missing)
        assert engine.query("SELECT v FROM analytics.flow") == [("old",)]
        assert analytics_tables(engine) == ["flow"]
        # and the normal path: the new table takes the name, nothing else stays
        engine.execute("CREATE OR REPLACE TABLE analytics.flow__jsql_build AS SELECT 'new' AS v")
        engine.replace_table(final, missing)
        assert engine.query("SELECT v FROM analytics.flow") == [("new",)]
        assert analytics_tables(engine) == ["flow"]
    finally:
        engine.close()


def test_finds_rudderstacks_upper_case_source(fake_snowflake, rows: list[dict]) -> None:
    engine = connect_engine(cli_url("DISCOVER_DB"))
    try:
        load_tracks(engine, rows[:5], schema="rudder", table="tracks")
        columns = engine.columns("rudder", "tracks")
        assert columns is not None
        assert set(columns) >= {"id", "anonymous_id", "user_id", "event", "timestamp", "received_at"}
        assert {type_family(columns[c]) for c in ("timestamp", "received_at")} == {"timestamp"}
        assert type_family(columns["anonymous_id"]) == "string"
        assert engine.columns("RUDDER", "Tracks") == columns
        assert engine.columns("rudder", "pages") is None
        assert "RUDDER" in engine.schemas() and engine.tables("rudder") == ["TRACKS"]
        check_source(engine, Settings.create())
        with pytest.raises(SourceError, match="Tables in rudder: TRACKS"):
            check_source(engine, Settings.create(source_table="track"))
        assert engine.count_rows(exp.table_("tracks", db="rudder")) == 5
    finally:
        engine.close()


LOWER_CASE_QUOTED = re.compile(r'"[^"]*[a-z][^"]*"')


def _without_string_literals(sql: str) -> str:
    return re.sub(r"'(?:[^']|'')*'", "''", sql)


def test_no_lower_case_quoted_identifiers_reach_snowflake(fake_snowflake, rows: list[dict]) -> None:
    """Snowflake folds unquoted names to upper case; a quoted lower-case name
    (say "timestamp") would miss RudderStack's TIMESTAMP there. fakesnow ignores
    the case of quoted names, so every statement the engine sends is checked
    here, and must also parse as Snowflake SQL."""
    engine = connect_engine(cli_url("SQL_DB"))
    sent: list[str] = []
    for method in ("execute", "query"):
        real = getattr(engine, method)

        def record(sql: str, real=real):
            sent.append(sql)
            return real(sql)

        setattr(engine, method, record)
    try:
        load_tracks(engine, rows[:50])
        sent.clear()
        settings = Settings.create(source_schema="Rudder", schema="Journeys")
        for _ in range(2):  # the second run replaces existing tables
            run_pipeline(engine, settings, explain=lambda _: None, full_refresh=True)
    finally:
        engine.close()
    statements = sent + [s for s in render_script(settings, "snowflake").split(";\n") if s.strip()]
    assert any(s.startswith("ALTER TABLE") for s in sent) and any("EXPLAIN" in s for s in sent)
    for sql in statements:
        assert not LOWER_CASE_QUOTED.search(_without_string_literals(sql)), sql
        sqlglot.parse_one(sql.strip(), read="snowflake")


def test_explain_is_offered_where_the_engine_can(fake_snowflake, rows: list[dict]) -> None:
    engine = connect_engine(cli_url("EXPLAIN_DB"))
    try:
        load_tracks(engine, rows[:20])
    finally:
        engine.close()
    result = apply("--explain", database="EXPLAIN_DB")
    assert result.exit_code == 0, result.output
    # fakesnow does not parse EXPLAIN USING TEXT; Snowflake prints its plan here
    assert result.stdout.count("(this engine offers no plan)") == len(PLAN_STAGES)


def test_timestamps_come_back_as_instants(fake_snowflake) -> None:
    """TIMESTAMP_TZ arrives as aware datetimes; compare.normalise turns them to naive UTC like the reference."""
    engine = connect_engine(cli_url("TZ_DB"))
    try:
        engine.create_schema("tz")
        engine.execute("CREATE OR REPLACE TABLE tz.t AS SELECT '2026-03-01 17:30:00.000001+05:30'::TIMESTAMP_TZ AS ts")
        ((value,),) = engine.query("SELECT ts FROM tz.t")
    finally:
        engine.close()
    assert value.tzinfo is not None
    assert normalise(value) == datetime(2026, 3, 1, 12, 0, 0, 1)
    assert normalise(value) == value.astimezone(UTC).replace(tzinfo=None)


def test_spec_secrets_are_not_in_repr() -> None:
    spec = dataclasses.replace(parse_connection("snowflake://u@acct/DB"), secrets={"password": PASSWORD})
    assert PASSWORD not in repr(spec)
