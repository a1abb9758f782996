"""Spark (a local SparkSession) and Databricks: the engines, the CLI on Spark, and Databricks SQL on Spark.

Databricks itself cannot run here. What can: its URL and token handling, the
real connector failing cleanly against a closed loopback port, its catalog SQL
(SHOW / DESCRIBE) on Spark SQL, and - the part that decides the tables - every
stage's SQL as rendered for the databricks dialect, run on local Spark and
compared with the reference.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from compare import assert_matches_reference
from engines.spark import DatabricksOnSparkHarness, SparkConnection, SparkHarness, drop_databases, shared_spark
from hypothesis import given, settings
from reference import compute
from strategies import examples, pipeline_case

from journey_sql.cli.app import cli
from journey_sql.compile.plan import STAGING_SUFFIX
from journey_sql.core.errors import ConfigError, ConnectionError_, MissingDriverError, SourceError, StageError
from journey_sql.core.stages import PLAN_STAGES
from journey_sql.engines.base import type_family
from journey_sql.engines.connection import connect, parse_connection
from journey_sql.engines.databricks import DatabricksEngine
from journey_sql.settings.options import Settings


@pytest.fixture(scope="module")
def spark():
    session = shared_spark()
    yield session
    drop_databases(session)


@pytest.fixture
def harness(spark):
    yield SparkHarness(spark)
    drop_databases(spark)


def _row(i: str, ts: datetime, anon: str | None = "anon-1", user: str | None = None, event: str = "Page") -> dict:
    return {"id": i, "anonymous_id": anon, "user_id": user, "event": event, "timestamp": ts, "received_at": ts}


T0 = datetime(2026, 3, 1, 12, 0, 0)
ROWS = [
    _row("e1", T0),
    _row("e2", T0 + timedelta(minutes=30)),  # exactly the timeout: same session
    _row("e3", T0 + timedelta(minutes=60, microseconds=1), user="u1"),  # a microsecond past: new session
    _row("e3", T0 + timedelta(minutes=61), user="u1", event="redelivered"),
    _row("e4", T0 + timedelta(minutes=62), anon=None, user="u1", event="Ärger"),
    _row("e5", T0, anon=None, user=None),  # no identity: left out
]


# -- Databricks SQL, run on local Spark -------------------------------------------


@given(pipeline_case())
# few examples: the databricks SELECTs equal spark's today, which test_cross_engine
# covers at length; these catch the day they diverge
@settings(max_examples=examples(3))
def test_databricks_sql_on_spark_matches_reference(spark, data: tuple[float, int, list]) -> None:
    timeout, depth, rows = data
    h = DatabricksOnSparkHarness(spark)
    h.load(rows)
    s = Settings.create(session_timeout=timeout, depth=depth)
    h.run(s)
    assert_matches_reference(h.fetch(s), compute(rows, timeout, depth), f"databricks-on-spark timeout={timeout}")


def test_databricks_sql_on_spark_matches_reference_on_demo_data(spark, demo_rows) -> None:
    h = DatabricksOnSparkHarness(spark)
    h.load(demo_rows)
    s = Settings.create(session_timeout=20, depth=4)
    h.run(s)
    assert_matches_reference(h.fetch(s), compute(demo_rows, 20, 4), "databricks-on-spark demo")


# -- the CLI on spark://local ---------------------------------------------------


def test_cli_apply_builds_and_then_replaces_the_tables(harness) -> None:
    harness.load(ROWS)
    result = CliRunner().invoke(cli, ["apply", "--connection", "spark://local", "--schema", "journey", "--explain"])
    assert result.exit_code == 0, result.output
    assert "dbt_tracks_flow" in result.output  # stage timings
    assert result.output.count("== Physical Plan ==") == len(PLAN_STAGES)
    s = Settings.create(schema="journey")
    assert_matches_reference(harness.fetch(s), compute(ROWS), "first apply")

    # a second run replaces every table, leaving no staging tables behind
    fewer = ROWS[:2]
    harness.load(fewer)
    result = CliRunner().invoke(cli, ["apply", "--connection", "spark://local", "--schema", "journey"])
    assert result.exit_code == 0, result.output
    assert_matches_reference(harness.fetch(s), compute(fewer), "second apply")
    assert harness.engine.tables("journey") == sorted(stage.name for stage in PLAN_STAGES)


def test_cli_apply_reports_a_missing_source(harness) -> None:
    harness.load(ROWS[:1])
    result = CliRunner().invoke(cli, ["apply", "--connection", "spark://local", "--source-table", "trakcs"])
    assert result.exit_code != 0
    assert "Source table rudder.trakcs not found in spark://local" in result.output
    assert "Tables in rudder: tracks." in result.output
    result = CliRunner().invoke(cli, ["apply", "--connection", "spark://local", "--source-schema", "nope"])
    assert "Schema nope does not exist; schemas here: default, rudder." in result.output


def test_a_failed_stage_leaves_the_previous_tables(harness, spark) -> None:
    harness.load(ROWS)
    s = Settings.create()
    harness.run(s)
    before = harness.fetch(s)
    # Stage 2 fails at run time, after the source checks and stage 1 have
    # passed: a stray directory where its staging table's files would go.
    warehouse = Path(spark.conf.get("spark.sql.warehouse.dir").removeprefix("file:"))
    stray = warehouse / "analytics.db" / f"dbt_mapped_tracks{STAGING_SUFFIX}"
    stray.mkdir(parents=True)
    (stray / "not-a-table.txt").write_text("left here by hand")
    try:
        with pytest.raises(StageError, match="Stage dbt_mapped_tracks failed on spark://local: ") as err:
            harness.run(s)
    finally:
        shutil.rmtree(stray)
    assert "An error occurred while calling" not in str(err.value)  # the Java message, not Py4J's
    assert harness.fetch(s) == before
    assert not [t for t in harness.engine.tables("analytics") if t.endswith(STAGING_SUFFIX)]


def test_a_source_row_that_fails_to_read_is_one_line(harness, spark) -> None:
    harness.load(ROWS)
    spark.sql(
        "CREATE VIEW rudder.tracks_bad AS SELECT id, anonymous_id, user_id, "
        "IF(event = 'Ärger', raise_error('boom'), event) AS event, `timestamp`, received_at FROM rudder.tracks"
    )
    with pytest.raises(SourceError, match="Reading the source rudder.tracks_bad failed on spark://local: .*boom"):
        harness.run(Settings.create(source_table="tracks_bad"))


# -- the engine ---------------------------------------------------------------------


def test_catalog_answers_from_the_spark_catalog(harness) -> None:
    harness.load([])
    engine = harness.engine
    assert engine.transactional_ddl is False
    assert "rudder" in engine.schemas()
    assert engine.tables("rudder") == ["tracks"]
    columns = engine.columns("rudder", "tracks")
    assert columns is not None
    assert {c: type_family(t) for c, t in columns.items()} == {
        "id": "string",
        "anonymous_id": "string",
        "user_id": "string",
        "event": "string",
        "timestamp": "timestamp",
        "received_at": "timestamp",
        "context_library_name": "string",
    }
    assert engine.columns("rudder", "nope") is None
    assert engine.columns("nope", "tracks") is None
    assert "== Physical Plan ==" in engine.explain("SELECT COUNT(*) FROM rudder.tracks")


def test_instants_are_exact_in_any_local_time_zone(spark, monkeypatch) -> None:
    """PySpark hands TIMESTAMP back in the process's local zone; the engine must give UTC,
    including in the hour a DST change repeats or skips (POSIX rule for Europe/Berlin)."""
    fold = datetime(2026, 10, 25, 0, 30)  # 02:30 CEST; 01:30 UTC is 02:30 CET
    gap = datetime(2026, 3, 29, 0, 59, 59, 999999)  # a microsecond before clocks skip 02:00-03:00
    rows = [
        _row("a1", fold),
        _row("a2", fold + timedelta(hours=1)),
        _row("a3", fold + timedelta(hours=1, microseconds=1)),
        _row("b1", gap, anon="anon-2"),
        _row("b2", gap + timedelta(microseconds=1), anon="anon-2"),
    ]
    monkeypatch.setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3")
    time.tzset()
    try:
        h = SparkHarness(spark)
        h.load(rows)
        s = Settings.create()
        h.run(s)
        assert_matches_reference(h.fetch(s), compute(rows), "TZ=Europe/Berlin")
    finally:
        monkeypatch.undo()
        time.tzset()
        drop_databases(spark)


def test_timestamp_ntz_sources_work_too(spark) -> None:
    h = SparkHarness(spark, timestamp_type="TIMESTAMP_NTZ")
    try:
        h.load(ROWS)
        assert h.engine.columns("rudder", "tracks")["timestamp"] == "timestamp_ntz"
        s = Settings.create(session_timeout=45)
        h.run(s)
        assert_matches_reference(h.fetch(s), compute(ROWS, 45), "TIMESTAMP_NTZ source")
    finally:
        drop_databases(spark)


def test_settings_for_a_new_session_are_not_silently_ignored(spark, tmp_path) -> None:
    with pytest.raises(ConfigError, match="already running"):
        connect(f"spark://local?warehouse={tmp_path}")
    with pytest.raises(ConfigError, match="spark://local"):
        connect("spark://spark-master:7077")


def test_spark_without_pyspark_says_how_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)  # makes the import fail
    with pytest.raises(MissingDriverError, match=r"pip install 'journey-sql\[spark\]'"):
        connect("spark://local")


# -- Databricks ---------------------------------------------------------------------


def test_databricks_url_and_token_become_connector_arguments(monkeypatch) -> None:
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-secret")
    spec = parse_connection("databricks://dbc-1.cloud.databricks.com/sql/1.0/warehouses/abc?catalog=main")
    assert DatabricksEngine.connect_arguments(spec) == {
        "server_hostname": "dbc-1.cloud.databricks.com",
        "http_path": "/sql/1.0/warehouses/abc",
        "access_token": "dapi-secret",
        "catalog": "main",
    }


def test_databricks_needs_a_token_and_an_http_path(monkeypatch) -> None:
    monkeypatch.delenv("DATABRICKS_TOKEN", raising=False)
    monkeypatch.delenv("JOURNEY_SQL_TOKEN", raising=False)
    with pytest.raises(ConnectionError_, match="set DATABRICKS_TOKEN"):
        connect("databricks://dbc-1.cloud.databricks.com/sql/1.0/warehouses/abc")
    monkeypatch.setenv("JOURNEY_SQL_TOKEN", "dapi-secret")
    with pytest.raises(ConfigError, match="HTTP path"):
        connect("databricks://dbc-1.cloud.databricks.com")


def test_databricks_without_its_connector_says_how_to_install(monkeypatch) -> None:
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-secret")
    monkeypatch.setitem(sys.modules, "databricks.sql", None)
    with pytest.raises(MissingDriverError, match=r"pip install 'journey-sql\[databricks\]'"):
        connect("databricks://dbc-1.cloud.databricks.com/sql/1.0/warehouses/abc")


def test_databricks_connector_failure_is_a_clean_connection_error(monkeypatch) -> None:
    pytest.importorskip("databricks.sql", reason="databricks-sql-connector is not installed")
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-secret")
    started = time.perf_counter()
    with pytest.raises(
        ConnectionError_, match=f"Cannot connect to Databricks at databricks://127.0.0.1:{port}/"
    ) as err:
        # one attempt: the connector otherwise retries for up to 15 minutes
        connect(f"databricks://127.0.0.1:{port}/sql/1.0/warehouses/abc", _retry_stop_after_attempts_count=1)
    assert "dapi-secret" not in str(err.value)
    assert time.perf_counter() - started < 60


def test_databricks_catalog_sql_runs_on_spark_sql(harness, spark) -> None:
    harness.load(ROWS)
    engine = DatabricksEngine(parse_connection("databricks://h/p"), SparkConnection(spark))
    spark.sql("CREATE TEMPORARY VIEW scratch AS SELECT 1 AS x")  # SHOW TABLES lists it; tables() must not
    try:
        assert "rudder" in engine.schemas()
        assert engine.tables("rudder") == ["tracks"]
        assert engine.columns("rudder", "tracks") == harness.engine.columns("rudder", "tracks")
        assert engine.columns("rudder", "nope") is None
        assert engine.columns("nope", "tracks") is None
        assert engine.count_rows(parse_table("rudder.tracks")) == len(ROWS)
        assert "== Physical Plan ==" in engine.explain("SELECT COUNT(*) FROM rudder.tracks")
    finally:
        spark.sql("DROP VIEW IF EXISTS scratch")


def parse_table(name: str):
    from sqlglot import exp

    return exp.to_table(name)


# -- spark://local and plain PySpark share a metastore ------------------------------------

PLAIN_PYSPARK = """
import sys
from pyspark.sql import SparkSession

# Spark's defaults, as `pyspark` would start: Hive catalog, ./metastore_db, ./spark-warehouse
spark = (
    SparkSession.builder.master("local[1]")
    .config("spark.ui.enabled", "false")
    .config("spark.ui.showConsoleProgress", "false")
    .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
    .enableHiveSupport()
    .getOrCreate()
)
spark.sparkContext.setLogLevel("ERROR")
if sys.argv[1] == "create":
    spark.sql("CREATE SCHEMA rudder")
    spark.sql(
        "CREATE TABLE rudder.tracks (id STRING, anonymous_id STRING, user_id STRING, event STRING, "
        "`timestamp` TIMESTAMP, received_at TIMESTAMP) USING PARQUET"
    )
    spark.sql(
        "INSERT INTO rudder.tracks VALUES ('e1', 'a1', NULL, 'Page Viewed', TIMESTAMP'2026-03-01 12:00:00', "
        "TIMESTAMP'2026-03-01 12:00:00'), ('e2', 'a1', 'u1', 'Signed Up', TIMESTAMP'2026-03-01 12:05:00', "
        "TIMESTAMP'2026-03-01 12:05:00')"
    )
else:
    print(sorted(t.name for t in spark.catalog.listTables("analytics")))
    print(spark.sql("SELECT count(*) FROM analytics.dbt_mapped_tracks").collect()[0][0])
spark.stop()
"""


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("JSQL_SLOW_TESTS"),
    reason="three Spark JVMs take 2-3 minutes on 2 busy cores: JSQL_SLOW_TESTS=1 pytest -k metastore",
)
def test_spark_local_shares_the_metastore_plain_pyspark_uses(tmp_path) -> None:
    """Three JVMs in one directory: plain PySpark makes the source, journey-sql builds, plain PySpark reads."""
    import subprocess

    if not shutil.which("java") and not os.environ.get("JAVA_HOME"):
        pytest.skip("Spark needs Java")
    script = tmp_path / "plain.py"
    script.write_text(PLAIN_PYSPARK)
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOURNEY_SQL_")}
    env.update(PYSPARK_PYTHON=sys.executable, SPARK_LOCAL_IP="127.0.0.1")

    def run(*args: str) -> str:
        done = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "Traceback" not in done.stderr
        return done.stdout

    run(sys.executable, str(script), "create")
    run(sys.executable, "-m", "journey_sql", "apply", "--connection", "spark://local?threads=1")
    out = run(sys.executable, str(script), "read")
    assert str(sorted(s.name for s in PLAN_STAGES)) in out
    assert out.strip().splitlines()[-1] == "2"
    assert (tmp_path / "metastore_db").is_dir() and (tmp_path / "spark-warehouse" / "analytics.db").is_dir()


def test_spark_metastore_parameter_is_checked(spark, tmp_path) -> None:
    with pytest.raises(ConfigError, match="Unknown Spark connection parameter 'metastor'. Did you mean 'metastore'"):
        connect(f"spark://local?metastor={tmp_path}")
    with pytest.raises(ConfigError, match="already running"):
        connect(f"spark://local?metastore={tmp_path}")


class _RecordingBuilder:
    """Stands in for SparkSession.builder only to read the settings a new local session would get."""

    def __init__(self) -> None:
        self.conf: dict[str, str] = {}

    def master(self, value: str) -> _RecordingBuilder:
        return self

    def appName(self, value: str) -> _RecordingBuilder:  # noqa: N802 - PySpark's name
        return self

    def config(self, key: str, value: str) -> _RecordingBuilder:
        self.conf[key] = value
        return self

    def getOrCreate(self) -> _RecordingBuilder:  # noqa: N802
        self.sparkContext = self
        return self

    def setLogLevel(self, level: str) -> None:  # noqa: N802
        pass


def _new_session_conf(url: str) -> dict[str, str]:
    from types import SimpleNamespace

    from journey_sql.engines.spark import _start_local

    builder = _RecordingBuilder()
    _start_local(SimpleNamespace(SparkSession=SimpleNamespace(builder=builder)), parse_connection(url), None, None)
    return builder.conf


def test_a_new_local_session_uses_sparks_default_metastore_and_warehouse(tmp_path, monkeypatch) -> None:
    """Where Spark itself would put them, relative to the working directory (the three-JVM test proves the sharing)."""
    monkeypatch.chdir(tmp_path)
    conf = _new_session_conf("spark://local")
    assert conf["spark.hadoop.javax.jdo.option.ConnectionURL"] == (
        f"jdbc:derby:;databaseName={tmp_path / 'metastore_db'};create=true"
    )
    assert conf["spark.sql.warehouse.dir"] == str(tmp_path / "spark-warehouse")
    assert conf["spark.sql.catalogImplementation"] == "hive"
    # an existing metastore and warehouse elsewhere
    (tmp_path / "shared" / "metastore_db").mkdir(parents=True)
    conf = _new_session_conf(f"spark://local?metastore={tmp_path}/shared/metastore_db&warehouse={tmp_path}/shared/wh")
    assert f"databaseName={tmp_path}/shared/metastore_db;" in conf["spark.hadoop.javax.jdo.option.ConnectionURL"]
    assert conf["spark.sql.warehouse.dir"] == f"{tmp_path}/shared/wh"
    # the layout of earlier journey-sql versions (metastore inside the warehouse) is still found
    (tmp_path / "old" / "metastore_db").mkdir(parents=True)
    conf = _new_session_conf(f"spark://local?warehouse={tmp_path}/old")
    assert f"databaseName={tmp_path}/old/metastore_db;" in conf["spark.hadoop.javax.jdo.option.ConnectionURL"]
    with pytest.raises(ConnectionError_, match="metastore .* does not exist"):
        _new_session_conf(f"spark://local?metastore={tmp_path}/typo")
