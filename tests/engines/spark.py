"""Spark for the tests: one local SparkSession per test process, tuned to start fast and stay quiet.

The session is started once (a JVM takes seconds) and stopped when the process
exits; every harness and every `spark://local` connection in the process
reuses it, as journey-sql does with a PySpark job's active session.

`DatabricksOnSparkHarness` runs the SQL rendered for the *databricks* dialect
on the same local Spark: Databricks SQL is Spark SQL plus Delta, and only
CREATE OR REPLACE needs Delta, so each stage's statement is run with USING
PARQUET instead of OR REPLACE.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Self

import pytest
from harness import SOURCE_COLUMNS, EngineHarness
from sqlglot import exp

from journey_sql.compile.plan import compile_plan
from journey_sql.dialects.dialect import get_dialect

# the same quiet logging journey-sql gives its own local sessions
from journey_sql.engines.spark import LOG4J2  # noqa: E402
from journey_sql.settings.options import Settings

_SESSION: dict[str, Any] = {}


def _java_available() -> bool:
    home = os.environ.get("JAVA_HOME")
    return bool(shutil.which("java") or (home and os.path.exists(os.path.join(home, "bin", "java"))))


def shared_spark() -> Any:
    """The process's SparkSession, started on first use."""
    if "spark" in _SESSION:
        return _SESSION["spark"]
    if not _java_available():
        pytest.skip("Spark needs Java 17 or 21 and no `java` is on PATH: apt-get install -y openjdk-17-jre-headless")
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        pytest.skip("pyspark is not installed: pip install -e '.[spark]'")
    with warnings.catch_warnings():
        # PySpark warns once, on first import of this module, whenever pandas 3 is merely installed
        warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
        import pyspark.testing.utils  # noqa: F401
    tmp = tempfile.mkdtemp(prefix="jsql-spark-")
    with open(os.path.join(tmp, "log4j2.properties"), "w") as f:
        f.write(LOG4J2)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    java_options = (
        # short runs: the C1 compiler and a serial GC start fastest on 2 cores
        "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC "
        f"-Dlog4j2.configurationFile=file:{tmp}/log4j2.properties -Dderby.system.home={tmp}/derby"
    )
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("journey-sql-tests")
        .config("spark.sql.catalogImplementation", "in-memory")
        .config("spark.sql.warehouse.dir", f"{tmp}/warehouse")
        .config("spark.driver.extraJavaOptions", java_options)
        .config("spark.driver.memory", "1g")
        # Query execution stays as in production (code generation, adaptive
        # plans: turning them off saved only ~15% here); two shuffle
        # partitions still put one window's rows apart from another's.
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    _SESSION.update(spark=spark, tmp=tmp)

    def stop() -> None:
        spark.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    atexit.register(stop)
    return spark


def drop_databases(spark: Any) -> None:
    for db in spark.catalog.listDatabases():
        if db.name != "default":
            spark.sql(f"DROP DATABASE IF EXISTS `{db.name}` CASCADE")


def _utc(value: datetime | None) -> datetime | None:
    """Fixture timestamps are naive UTC; aware ones reach Spark exactly, whatever this process's time zone."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


class SparkHarness(EngineHarness):
    name = "spark"

    def __init__(self, spark: Any, timestamp_type: str = "TIMESTAMP") -> None:
        from journey_sql.engines.connection import connect

        super().__init__(connect("spark://local"))  # reuses `spark`, the active session
        self.spark = spark
        self.timestamp_type = timestamp_type  # TIMESTAMP (an instant) or TIMESTAMP_NTZ

    def load(self, rows: list[dict[str, Any]], schema: str = "rudder", table: str = "tracks") -> None:
        from pyspark.sql.types import StringType, StructField, StructType, TimestampNTZType, TimestampType

        name = f"`{schema}`.`{table}`"
        self.spark.sql(f"CREATE SCHEMA IF NOT EXISTS `{schema}`")
        self.spark.sql(f"DROP TABLE IF EXISTS {name}")
        ts = self.timestamp_type
        self.spark.sql(
            f"CREATE TABLE {name} (id STRING, anonymous_id STRING, user_id STRING, event STRING, "
            f"`timestamp` {ts}, received_at {ts}, context_library_name STRING) USING PARQUET"
        )
        if not rows:
            return
        ntz = ts == "TIMESTAMP_NTZ"
        ts_type = TimestampNTZType() if ntz else TimestampType()
        fields = [
            StructField(c, ts_type if c in ("timestamp", "received_at") else StringType()) for c in SOURCE_COLUMNS
        ]
        struct = StructType([*fields, StructField("context_library_name", StringType())])
        data = [
            tuple(r[c] if c not in ("timestamp", "received_at") or ntz else _utc(r[c]) for c in SOURCE_COLUMNS)
            + ("test",)
            for r in rows
        ]
        # insertInto matches columns by position, as the CREATE above lists them
        self.spark.createDataFrame(data, struct).write.insertInto(name)

    def quote(self, column: str) -> str:
        return f"`{column}`"


class DatabricksOnSparkHarness(SparkHarness):
    """The databricks dialect's stage SQL, run on local Spark (see the module docstring)."""

    name = "databricks-on-spark"

    def run(self, settings: Settings) -> None:  # type: ignore[override]
        dialect = get_dialect("databricks")
        plan = compile_plan(settings, dialect)
        self.spark.sql(f"CREATE SCHEMA IF NOT EXISTS `{settings.schema}`")
        for step in plan.steps:
            statements = dialect.create_table_as(step.relation, step.select)
            assert len(statements) == 1 and statements[0].args.get("replace"), (
                "databricks builds with CREATE OR REPLACE"
            )
            create = statements[0]
            create.set("replace", False)
            create.set("properties", exp.Properties(expressions=[exp.FileFormatProperty(this=exp.Var(this="PARQUET"))]))
            self.spark.sql(f"DROP TABLE IF EXISTS {step.relation.sql('databricks')}")
            self.spark.sql(dialect.generate(create))


@contextlib.contextmanager
def spark_session() -> Iterator[SparkHarness]:
    spark = shared_spark()
    try:
        yield SparkHarness(spark)
    finally:
        drop_databases(spark)


@contextlib.contextmanager
def databricks_on_spark_session() -> Iterator[DatabricksOnSparkHarness]:
    spark = shared_spark()
    try:
        yield DatabricksOnSparkHarness(spark)
    finally:
        drop_databases(spark)


class SparkCursor:
    """A DB-API cursor over the local SparkSession, so DatabricksEngine's own SQL (SHOW, DESCRIBE,
    COUNT, EXPLAIN) runs for real on Spark SQL, which Databricks SQL extends."""

    def __init__(self, spark: Any) -> None:
        self.spark = spark
        self.rows: list[Any] = []

    def execute(self, sql: str) -> None:
        self.rows = self.spark.sql(sql).collect()

    def fetchall(self) -> list[Any]:
        return self.rows

    def close(self) -> None:
        pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SparkConnection:
    def __init__(self, spark: Any) -> None:
        self.spark = spark

    def cursor(self) -> SparkCursor:
        return SparkCursor(self.spark)

    def close(self) -> None:
        pass
