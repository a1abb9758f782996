"""PostgreSQL and Redshift engines on a throwaway local cluster (Redshift through tests/pg_startup_shim.py).

What the cross-engine test does not cover: the CLI end to end, credentials and
URL parameters, error messages, and that a failed run leaves the previous
tables exactly as they were.
"""

from __future__ import annotations

import itertools
import os
import socket
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from compare import assert_matches_reference
from engines.pg import Cluster, PostgresHarness, RedshiftHarness, postgres_engine, redshift_engine, shared_cluster
from reference import compute

from journey_sql.cli.app import cli
from journey_sql.compile.plan import STAGING_SUFFIX
from journey_sql.core.errors import ConfigError, ConnectionError_, MissingDriverError, SourceError, StageError
from journey_sql.core.stages import PLAN_STAGES, STAGES
from journey_sql.engines.base import Engine, type_family
from journey_sql.engines.connection import parse_connection
from journey_sql.run.pipeline import run_pipeline
from journey_sql.settings.options import Settings

ENV_PASSWORDS = ("PGPASSWORD", "REDSHIFT_PASSWORD", "JOURNEY_SQL_PASSWORD", "PGPASSFILE")
_counter = itertools.count()


@pytest.fixture(scope="module")
def cluster() -> Cluster:
    return shared_cluster()


@pytest.fixture(scope="module")
def shim(cluster: Cluster) -> Iterator[Any]:
    pytest.importorskip(
        "redshift_connector", reason="redshift_connector is not installed: pip install 'journey-sql[redshift]'"
    )
    from pg_startup_shim import StartupShim

    with StartupShim(cluster.port) as s:
        yield s


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No password or journey-sql setting from the outside, and no journey-sql.toml in the working directory."""
    for name in ENV_PASSWORDS:
        monkeypatch.delenv(name, raising=False)
    for name in [n for n in os.environ if n.startswith("JOURNEY_SQL_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


@pytest.fixture
def database(cluster: Cluster) -> str:
    return cluster.database(f"jsql_t{next(_counter)}", fresh=True)


def _row(
    i: str, minute: float, anon: str | None = "anon-1", user: str | None = None, event: str = "Page Viewed"
) -> dict:
    t = datetime(2026, 3, 1, 12, 0) + timedelta(minutes=minute)
    return {"id": i, "anonymous_id": anon, "user_id": user, "event": event, "timestamp": t, "received_at": t}


# Two visitors, one identified part way, a new session after 45 idle minutes.
ROWS_A = [
    _row("a1", 0),
    _row("a2", 1, event="Product Added"),
    _row("a3", 46, user="u-1", event="Order Completed"),
    _row("b1", 3, anon="anon-2"),
    _row("b2", 4, anon="anon-2", event="Product Added"),
]
# Different data: a run over it changes every table.
ROWS_B = [_row("c1", 0, anon="anon-3"), _row("c2", 90, anon="anon-3", user="u-3")]


def _snapshot(engine: Engine, schema: str = "analytics") -> dict[str, list[tuple]]:
    """Every table in the schema, rows sorted, so 'exactly as they were' can be compared."""
    return {table: sorted(engine.query(f"SELECT * FROM {schema}.{table}"), key=repr) for table in engine.tables(schema)}


def _invoke(args: list[str], env: dict[str, str]) -> Result:
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


# -- PostgreSQL through the CLI ---------------------------------------------------------


def test_apply_via_cli_builds_the_five_tables(cluster: Cluster, database: str, clean_env: Any) -> None:
    with _Loader(database) as loader:
        loader.load(ROWS_A)
        url = cluster.url(database, query="sslmode=disable")
        args = ["apply", "--connection", url, "--session-timeout", "30", "--depth", "3"]
        result = _invoke(args, {"PGPASSWORD": cluster.password})
        assert result.exit_code == 0, result.output
        assert "5 events placed in analytics" in result.stderr
        # read back on another connection: the run was committed
        s = Settings.create(session_timeout=30, depth=3)
        assert_matches_reference(loader.fetch(s), compute(ROWS_A, 30, 3), "postgres via CLI")
        assert set(loader.engine.tables("analytics")) == {stage.name for stage in PLAN_STAGES}


def test_a_full_apply_scans_the_source_once(cluster: Cluster, database: str, clean_env: Any) -> None:
    """PostgreSQL's own counter: pg_stat_user_tables.seq_scan on the source rises by at most 1 per apply
    (the events step); the checks read the catalog, the stages and the counts read the events table."""
    import time

    with _Loader(database) as loader:
        loader.load(ROWS_A)
    admin = cluster.admin(dbname=database)

    def seq_scans() -> int:
        admin.execute("SELECT pg_stat_clear_snapshot()")
        row = admin.execute(
            "SELECT seq_scan FROM pg_stat_user_tables WHERE schemaname = 'rudder' AND relname = 'tracks'"
        ).fetchone()
        return int(row[0])

    def settled(floor: int) -> int:
        # a backend flushes its counters when it exits, shortly after the client has gone
        deadline = time.monotonic() + 10
        value = seq_scans()
        while value <= floor and time.monotonic() < deadline:
            time.sleep(0.2)
            value = seq_scans()
        time.sleep(1.0)
        return seq_scans()

    try:
        admin.execute("SELECT pg_stat_force_next_flush()")
        before = settled(-1)
        url = cluster.url(database, query="sslmode=disable")
        for run in range(2):  # a first build and a rebuild over existing tables
            result = _invoke(["apply", "--connection", url], {"PGPASSWORD": cluster.password})
            assert result.exit_code == 0, result.output
            after = settled(before)
            assert after - before == 1, f"run {run + 1}: the source was scanned {after - before} times"
            before = after
    finally:
        admin.close()


def test_apply_runs_without_jit_and_leaves_the_session_setting_alone(database: str) -> None:
    """JIT compiles too long for an incremental run's small statements (engines/postgres.py): apply's
    transaction runs with it off, and the connection's own setting is back once the run is over."""
    with _Loader(database) as loader:
        loader.load(ROWS_A)
    engine = postgres_engine(database)
    seen = []
    real = type(engine).write_step

    def write_step(self: Any, step: Any) -> int | None:
        seen.append(self.query("SHOW jit")[0][0])
        return real(self, step)

    try:
        engine.execute("SET jit = on")
        with pytest.MonkeyPatch.context() as monkeypatch:
            monkeypatch.setattr(type(engine), "write_step", write_step)
            run_pipeline(engine, Settings.create(schema="analytics"))
        assert seen and set(seen) == {"off"}, seen
        assert engine.query("SHOW jit")[0][0] == "on"
    finally:
        engine.close()


def test_apply_with_explain_prints_postgres_plans(cluster: Cluster, database: str, clean_env: Any) -> None:
    with _Loader(database) as loader:
        loader.load(ROWS_A)
    result = _invoke(["apply", "--explain", "--connection", cluster.url(database)], {"PGPASSWORD": cluster.password})
    assert result.exit_code == 0, result.output
    for stage in STAGES:
        assert f"-- plan for {stage.name}" in result.stdout
    assert "Scan on tracks" in result.stdout  # PostgreSQL's own EXPLAIN text


def test_password_comes_from_pgpass_when_none_is_set(
    cluster: Cluster, database: str, clean_env: Any, tmp_path: Path
) -> None:
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"{cluster.host}:{cluster.port}:{database}:{cluster.user}:{cluster.password}\n")
    pgpass.chmod(0o600)
    clean_env.setenv("PGPASSFILE", str(pgpass))
    from journey_sql.engines.postgres import PostgresEngine

    engine = PostgresEngine.connect(parse_connection(cluster.url(database)))
    assert engine.query("SELECT current_user, current_database()") == [(cluster.user, database)]
    engine.close()


def test_url_parameters_reach_libpq(cluster: Cluster, database: str, clean_env: Any) -> None:
    from journey_sql.engines.postgres import PostgresEngine

    clean_env.setenv("PGPASSWORD", cluster.password)
    engine = PostgresEngine.connect(parse_connection(cluster.url(database, query="application_name=jsql-probe")))
    assert engine.query("SHOW application_name") == [("jsql-probe",)]
    engine.close()
    with pytest.raises(ConnectionError_, match='invalid connection option "sslmod"'):
        PostgresEngine.connect(parse_connection(cluster.url(database, query="sslmod=require")))


def test_missing_source_table_names_the_schemas_there(cluster: Cluster, database: str, clean_env: Any) -> None:
    result = _invoke(["apply", "--connection", cluster.url(database)], {"PGPASSWORD": cluster.password})
    assert result.exit_code == 1
    assert "Source table rudder.tracks not found" in result.output
    assert "Schema rudder does not exist; schemas here: public." in result.output
    with _Loader(database) as loader:
        loader.load([], table="pages")
    result = _invoke(["apply", "--connection", cluster.url(database)], {"PGPASSWORD": cluster.password})
    assert "Tables in rudder: pages." in result.output


def test_columns_finds_the_source_case_insensitively_and_maps_types(cluster: Cluster, database: str) -> None:
    engine = postgres_engine(database)
    engine.execute("CREATE SCHEMA rudder")
    engine.execute(
        'CREATE TABLE rudder.tracks (id character varying(64), event text, "timestamp" timestamp with time zone, '
        "received_at timestamp without time zone, n integer, CONTEXT_IP text)"
    )
    columns = engine.columns("RUDDER", "Tracks")
    assert columns == {
        "id": "character varying",
        "event": "text",
        "timestamp": "timestamp with time zone",
        "received_at": "timestamp without time zone",
        "n": "integer",
        "context_ip": "text",
    }
    assert {c: type_family(t) for c, t in columns.items()} == {
        "id": "string", "event": "string", "timestamp": "timestamp", "received_at": "timestamp",
        "n": "other", "context_ip": "string",
    }  # fmt: skip
    assert engine.columns("rudder", "pages") is None
    engine.close()


def test_wrong_password_is_reported_without_the_password(cluster: Cluster, database: str, clean_env: Any) -> None:
    wrong = "Wr0ng-" + cluster.password[::-1]
    result = _invoke(["apply", "--connection", cluster.url(database)], {"PGPASSWORD": wrong})
    assert result.exit_code == 1
    assert "Cannot connect to PostgreSQL" in result.output
    assert "password authentication failed" in result.output
    assert wrong not in result.output and cluster.password not in result.output


def test_unreachable_server_is_a_connection_error(clean_env: Any) -> None:
    from journey_sql.engines.postgres import PostgresEngine

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    clean_env.setenv("PGPASSWORD", "s3cret-never-shown")
    with pytest.raises(ConnectionError_) as err:
        PostgresEngine.connect(parse_connection(f"postgresql://someone@127.0.0.1:{port}/db"))
    assert "Cannot connect to PostgreSQL at postgresql://someone@127.0.0.1" in str(err.value)
    assert "s3cret-never-shown" not in str(err.value)


@pytest.mark.parametrize(
    ("scheme", "module", "extra"),
    [("postgresql", "psycopg", "postgres"), ("redshift", "redshift_connector", "redshift")],
)
def test_missing_driver_says_how_to_install_it(
    scheme: str, module: str, extra: str, monkeypatch: pytest.MonkeyPatch, clean_env: Any
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes `import <module>` fail
    from journey_sql.engines.connection import connect

    with pytest.raises(MissingDriverError, match=f"pip install 'journey-sql\\[{extra}\\]'"):
        connect(f"{scheme}://someone@127.0.0.1:5432/db")
    result = _invoke(["apply", "--connection", f"{scheme}://someone@127.0.0.1/db"], {})
    assert result.exit_code == 1 and f"pip install 'journey-sql[{extra}]'" in result.output


# -- a failed run changes nothing -----------------------------------------------------


def test_a_stage_blocked_by_a_reader_rolls_back_every_table(cluster: Cluster, database: str, clean_env: Any) -> None:
    """A realistic failure: a dashboard holds a lock on the 4th table, the run's lock_timeout expires."""
    with _Loader(database) as loader:
        loader.load(ROWS_A)
        run_pipeline(loader.engine, Settings.create(), full_refresh=True)
        before = _snapshot(loader.engine)
        loader.load(ROWS_B)
    reader = cluster.admin(dbname=database)
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM analytics.dbt_track_facts")  # holds ACCESS SHARE until it ends
    try:
        url = cluster.url(database, query="options=-c%20lock_timeout%3D300")
        # a full refresh replaces the table the reader holds (an incremental run would only need row locks)
        result = _invoke(["apply", "--connection", url, "--full-refresh"], {"PGPASSWORD": cluster.password})
    finally:
        reader.execute("ROLLBACK")
        reader.close()
    assert result.exit_code == 1
    assert "Stage dbt_track_facts failed" in result.output and "lock timeout" in result.output
    assert cluster.password not in result.output
    with _Loader(database) as loader:
        assert _snapshot(loader.engine) == before


@pytest.mark.parametrize("engine_name", ["postgres", "redshift"])
def test_a_failing_fourth_stage_leaves_the_previous_tables_exactly(
    engine_name: str, cluster: Cluster, database: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness = _harness(engine_name, database, request)
    try:
        harness.load(ROWS_A)
        harness.run(Settings.create())
        before = _snapshot(harness.engine)
        assert set(before) == {s.name for s in PLAN_STAGES} and all(before.values())
        harness.load(ROWS_B)

        import journey_sql.run.pipeline as executor

        real = executor.compile_plan
        from harness import break_step

        break_step(monkeypatch, STAGES[3].name)
        with pytest.raises(StageError, match="Stage dbt_track_facts failed.*no_such_table") as err:
            harness.run(Settings.create())
        assert err.value.stage == STAGES[3].name
        # the first three stages did run, and were undone with the fourth
        after = _snapshot(harness.engine)
        assert after == before
        assert not any(t.endswith(STAGING_SUFFIX) for t in harness.engine.tables("analytics"))
        # the connection is usable again, and a clean run goes through
        monkeypatch.setattr(executor, "compile_plan", real)
        assert harness.run(Settings.create()).events == len(ROWS_B)
    finally:
        harness.close()


# -- Redshift, through redshift_connector and the shim ----------------------------------


def test_redshift_apply_via_cli_goes_through_redshift_connector(
    cluster: Cluster, database: str, shim: Any, clean_env: Any
) -> None:
    with _RedshiftLoader(database, shim) as loader:
        loader.load(ROWS_A)
        url = cluster.url(database, scheme="redshift", port=shim.port, query="ssl=false&timeout=20")
        result = _invoke(["apply", "--connection", url, "--depth", "4"], {"REDSHIFT_PASSWORD": cluster.password})
        assert result.exit_code == 0, result.output
        assert "5 events placed in analytics" in result.stderr
        assert_matches_reference(loader.fetch(Settings.create(depth=4)), compute(ROWS_A, 30, 4), "redshift via CLI")
    assert "driver_version" in shim.dropped_keys  # it was redshift_connector that connected


def test_redshift_missing_source_and_explain(cluster: Cluster, database: str, shim: Any) -> None:
    engine = redshift_engine(database, shim.port, cluster)
    try:
        with pytest.raises(SourceError, match="Schema rudder does not exist; schemas here: public"):
            run_pipeline(engine, Settings.create(), full_refresh=True)
        assert "Result" in engine.explain("SELECT 1")
    finally:
        engine.close()


def test_redshift_errors_are_readable_and_never_show_the_password(
    cluster: Cluster, database: str, shim: Any, clean_env: Any
) -> None:
    wrong = "Wr0ng-" + cluster.password[::-1]
    url = cluster.url(database, scheme="redshift", port=shim.port, query="ssl=false")
    result = _invoke(["apply", "--connection", url], {"REDSHIFT_PASSWORD": wrong})
    assert result.exit_code == 1
    assert "Cannot connect to Redshift" in result.output and "password authentication failed" in result.output
    assert "{'S'" not in result.output  # the driver's raw error dict, made readable
    assert wrong not in result.output and cluster.password not in result.output


def test_redshift_url_parameters_are_checked(cluster: Cluster, clean_env: Any) -> None:
    from journey_sql.engines.redshift import connect_options

    spec = parse_connection("redshift://u@h:5439/db?ssl=false&timeout=5&iam=true&db_groups=a,b")
    assert connect_options(spec) == {"ssl": False, "timeout": 5, "iam": True, "db_groups": ["a", "b"]}
    dbt_names = parse_connection("redshift://u@h/db?iam=true&cluster_id=c1&region=eu-west-1&iam_profile=p")
    assert connect_options(dbt_names) == {
        "iam": True,
        "cluster_identifier": "c1",
        "region": "eu-west-1",
        "profile": "p",
    }
    with pytest.raises(ConfigError, match="Unknown Redshift connection parameter 'sslmod'"):
        connect_options(parse_connection("redshift://u@h/db?sslmod=require"))
    with pytest.raises(ConfigError, match="ssl='maybe' is not valid"):
        connect_options(parse_connection("redshift://u@h/db?ssl=maybe"))
    with pytest.raises(ConfigError, match="Put no secret_access_key in the connection URL") as err:
        connect_options(parse_connection("redshift://u@h/db?iam=true&secret_access_key=AKIAsecret"))
    assert "AKIAsecret" not in str(err.value)


def test_a_password_in_the_postgres_url_query_is_refused_unprinted(clean_env: Any) -> None:
    result = _invoke(["apply", "--connection", "postgresql://u@127.0.0.1/db?password=hunter2"], {})
    assert result.exit_code == 1 and "Put no password in the connection URL" in result.output
    assert "hunter2" not in result.output


# -- helpers ------------------------------------------------------------------------------


class _Loader(PostgresHarness):
    """A PostgresHarness on a test's own database, usable as a context manager."""

    def __init__(self, database: str) -> None:
        super().__init__(postgres_engine(database))

    def __enter__(self) -> _Loader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _RedshiftLoader(RedshiftHarness):
    """A RedshiftHarness on a test's own database, through the module's shim (left open on close)."""

    def __init__(self, database: str, shim: Any) -> None:
        super().__init__(redshift_engine(database, shim.port), shim)

    def __enter__(self) -> _RedshiftLoader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.engine.close()


def _harness(name: str, database: str, request: pytest.FixtureRequest) -> PostgresHarness:
    return _Loader(database) if name == "postgres" else _RedshiftLoader(database, request.getfixturevalue("shim"))
