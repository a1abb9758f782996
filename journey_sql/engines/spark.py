"""Apache Spark through a SparkSession in this process: a local one, or the one a PySpark job already runs.

`spark://local` reuses the active SparkSession when there is one (inside a
PySpark job or notebook) and otherwise starts a local one. Parameters, used
only when this engine starts the session:

- `warehouse=/path`: where managed tables are written (default:
  ./spark-warehouse, Spark's own default);
- `metastore=/path/metastore_db`: the Derby metastore that holds the table
  definitions (default: ./metastore_db, Spark's own default, so a plain
  PySpark session with Hive support started in the same directory sees the
  same tables; a `metastore_db` that an earlier journey-sql left inside the
  warehouse directory is used if there is one);
- `catalog=hive|in-memory`: Hive keeps table definitions in a Derby metastore
  inside the warehouse directory, so tables outlive the process (the default);
  `in-memory` forgets them when the process exits;
- `threads=N`: worker threads (local[N]; default: one per core).

Spark's session catalog stores Parquet tables, which it cannot REPLACE and
whose DDL is not transactional, so the executor builds staging tables and
swaps them in with DROP + RENAME.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from datetime import UTC
from pathlib import Path
from typing import Any

from sqlglot import exp

from journey_sql.core.errors import ConfigError, ConnectionError_, did_you_mean, first_line
from journey_sql.engines.base import Engine, import_driver
from journey_sql.engines.spec import ConnectionSpec

CATALOGS = ("hive", "in-memory")
PARAMS = ("warehouse", "metastore", "catalog", "threads")

LOG4J2 = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n
"""


class SparkError(Exception):
    """A Spark SQL error, with the Java exception's message instead of Py4J's "error calling o51.sql"."""


class SparkEngine(Engine):
    scheme = "spark"
    title = "Spark"
    example = "spark://local"
    dbt_types = ("spark",)
    dialect_name = "spark"
    transactional_ddl = False
    # Parquet tables in the session catalog take no DELETE or UPDATE
    row_level_dml = False
    cheap_source_count = True  # Parquet footers hold row counts
    replace_strategy = "drop_rename"  # two catalog operations, not atomic

    @classmethod
    def from_dbt_profile(cls, o: dict[str, Any]) -> tuple[str, dict[str, str]]:
        if o.get("method") not in (None, "session"):
            raise ConfigError(
                "Only Spark profiles with method: session (a local SparkSession) are supported; "
                "for a Databricks cluster use a databricks profile."
            )
        return "spark://local", {}

    def __init__(self, spec: ConnectionSpec, session: Any, owned: bool) -> None:
        super().__init__(spec)
        self.session = session
        # Only a session this engine started is stopped on close; a PySpark
        # job's own session belongs to the job.
        self.owned = owned
        from pyspark.sql.types import TimestampType

        self._timestamp_type = TimestampType

    @classmethod
    def connect(
        cls, spec: ConnectionSpec, threads: int | None = None, memory_limit: str | None = None, **_: Any
    ) -> SparkEngine:
        unknown = [p for p in spec.params if p not in PARAMS]
        if unknown:
            raise ConfigError(
                f"Unknown Spark connection parameter {unknown[0]!r}.{did_you_mean(unknown[0], PARAMS)} "
                f"Supported: {', '.join(PARAMS)}."
            )
        if (spec.host or "").lower() != "local" or spec.path:
            raise ConfigError(
                f"Spark connections look like spark://local (got {spec.redacted()!r}): journey-sql runs Spark in "
                "this process. For a cluster, run journey-sql inside your PySpark job (it reuses the active "
                "session) or use databricks://HOST/HTTP_PATH."
            )
        # PySpark warns about pandas 3 whenever pandas is installed; we never hand it pandas.
        warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
        sql_module = import_driver("pyspark.sql", "spark")
        _silence_query_context_loggers()
        session = sql_module.SparkSession.getActiveSession() or _default_session(sql_module)
        if session is not None:
            _check_compatible(session, spec)
            return cls(spec, session, owned=False)
        return cls(spec, _start_local(sql_module, spec, threads, memory_limit), owned=True)

    # -- running SQL ---------------------------------------------------------
    def _run(self, sql: str) -> tuple[Any, list[Any]]:
        """The DataFrame (for its schema) and its rows. DDL runs eagerly inside spark.sql()."""
        try:
            df = self.session.sql(sql)
            return df, df.collect()
        except Exception as err:
            readable = _java_error(err)
            if readable is None:
                raise
            raise readable from err

    def execute(self, sql: str) -> None:
        self._run(sql)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        df, rows = self._run(sql)
        # PySpark turns TIMESTAMP (an instant) into a naive datetime in this
        # process's local time zone, whatever the session time zone says. Give
        # the instant back as an aware UTC datetime instead; astimezone()
        # reads the naive value as local time, honouring the DST fold flag
        # fromtimestamp() set, so the round trip is exact.
        instants = [i for i, f in enumerate(df.schema.fields) if isinstance(f.dataType, self._timestamp_type)]
        if not instants:
            return [tuple(r) for r in rows]
        out = []
        for row in rows:
            values = list(row)
            for i in instants:
                if values[i] is not None:
                    values[i] = values[i].astimezone(UTC)
            out.append(tuple(values))
        return out

    def explain(self, sql: str) -> str:
        return str(self.query(f"EXPLAIN {sql}")[0][0])

    def close(self) -> None:
        if self.owned:
            self.session.stop()

    # -- catalog: the Catalog API, which needs no information_schema -----------
    def _name(self, schema: str, table: str | None = None) -> str:
        parts = [schema] if table is None else [schema, table]
        return ".".join(exp.to_identifier(p, quoted=True).sql("spark") for p in parts)

    def schemas(self) -> list[str]:
        return sorted(db.name for db in self.session.catalog.listDatabases())

    def tables(self, schema: str) -> list[str]:
        return sorted(t.name for t in self.session.catalog.listTables(self._name(schema)) if not t.isTemporary)

    def columns(self, schema: str, table: str) -> dict[str, str] | None:
        name = self._name(schema, table)
        if not self.session.catalog.tableExists(name):
            return None
        return {c.name.lower(): str(c.dataType) for c in self.session.catalog.listColumns(name)}

    def replace_table(self, final: exp.Table, staging: exp.Table) -> None:
        # RENAME must stay within one database and accepts a qualified target;
        # DROP + RENAME is two catalog operations, so readers may briefly find
        # no table, but the data is never half-written.
        self.drop_table(final)
        self.execute(f"ALTER TABLE {self.sql(staging)} RENAME TO {self.sql(final)}")


def _silence_query_context_loggers() -> None:
    """PySpark 4 logs every failed query as JSON with a stack trace; our errors already say what failed."""
    try:
        from pyspark.logger import PySparkLogger
    except ImportError:  # PySpark 3.5 has no such loggers
        return
    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        PySparkLogger.getLogger(name).setLevel(logging.CRITICAL)


def _default_session(sql_module: Any) -> Any:
    """The default session of a running SparkContext (another thread's job), or None."""
    from pyspark import SparkContext

    if SparkContext._active_spark_context is None:
        return None
    return sql_module.SparkSession.builder.getOrCreate()


def _check_compatible(session: Any, spec: ConnectionSpec) -> None:
    """Settings that only a new session can take must not be silently ignored."""
    conf = session.sparkContext.getConf()
    wanted = {
        "catalog": ("spark.sql.catalogImplementation", spec.params.get("catalog")),
        "warehouse": ("spark.sql.warehouse.dir", spec.params.get("warehouse")),
        "metastore": ("spark.hadoop.javax.jdo.option.ConnectionURL", spec.params.get("metastore")),
    }
    for param, (key, value) in wanted.items():
        if value is None:
            continue
        current = conf.get(key, "")
        if param == "catalog":
            same = current == value
        elif param == "metastore":
            same = current == _derby_url(_abs(value))
        else:
            same = Path(current.removeprefix("file:")) == _abs(value)
        if not same:
            raise ConfigError(
                f"A SparkSession is already running with {key}={current}; {param}={value} from the connection "
                "can only apply to a new session. Drop the parameter or configure the running session."
            )


def _abs(path: str) -> Path:
    return Path(path).expanduser().resolve()


def _derby_url(metastore: Path) -> str:
    return f"jdbc:derby:;databaseName={metastore};create=true"


def _metastore(spec: ConnectionSpec, warehouse: Path) -> Path:
    """The given metastore; else one an earlier journey-sql kept in the warehouse; else Spark's ./metastore_db."""
    if spec.params.get("metastore"):
        given = _abs(spec.params["metastore"])
        if not given.is_dir():
            raise ConnectionError_(
                f"Spark metastore {given} does not exist: point metastore= at an existing metastore_db directory, "
                "or leave it out to use ./metastore_db."
            )
        return given
    if (warehouse / "metastore_db").is_dir():
        return warehouse / "metastore_db"
    return _abs("metastore_db")


def _start_local(sql_module: Any, spec: ConnectionSpec, threads: int | None, memory_limit: str | None) -> Any:
    catalog = spec.params.get("catalog", "hive")
    if catalog not in CATALOGS:
        raise ConfigError(f"Spark catalog={catalog!r} is not supported; use one of: {', '.join(CATALOGS)}.")
    wanted = threads or spec.params.get("threads")
    try:
        cores = str(int(wanted)) if wanted else "*"
    except ValueError:
        raise ConfigError(f"threads must be a whole number, got {wanted!r}.") from None
    warehouse = _abs(spec.params.get("warehouse", "spark-warehouse"))
    if not warehouse.parent.is_dir():
        raise ConnectionError_(f"Cannot use Spark warehouse {warehouse}: directory {warehouse.parent} does not exist.")
    warehouse.mkdir(exist_ok=True)  # Derby opens its log there before Spark creates the directory
    # Errors only: Spark's INFO/WARN chatter would bury the stage timings.
    log_config = warehouse / "journey-sql-log4j2.properties"
    log_config.write_text(LOG4J2)
    # Spark's workers must run this very Python; loopback keeps a laptop's
    # firewall and VPN out of a single-machine session.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = (
        sql_module.SparkSession.builder.master(f"local[{cores}]")
        .appName("journey-sql")
        .config("spark.sql.catalogImplementation", catalog)
        .config("spark.sql.warehouse.dir", str(warehouse))
        # Spark's own default place (./metastore_db), so that plain PySpark in
        # the same directory sees the tables, unless told otherwise.
        .config("spark.hadoop.javax.jdo.option.ConnectionURL", _derby_url(_metastore(spec, warehouse)))
        .config(
            "spark.driver.extraJavaOptions",
            f"-Dderby.stream.error.file={warehouse / 'derby.log'} -Dlog4j2.configurationFile=file:{log_config}",
        )
        # Timestamps are instants; UTC keeps any rendering of them unambiguous.
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.showConsoleProgress", "false")
    )
    if memory_limit:
        builder = builder.config("spark.driver.memory", str(memory_limit))
    try:
        session = builder.getOrCreate()
    except Exception as err:
        raise ConnectionError_(
            f"Cannot start a local Spark session: {first_line(err)}. Spark needs Java 17 or 21 "
            "(check `java -version` and JAVA_HOME)."
        ) from None
    session.sparkContext.setLogLevel("ERROR")
    return session


def _java_error(err: Exception) -> SparkError | None:
    """Py4J's error for a JVM failure says only "An error occurred while calling o51.sql"; this
    is the Java message instead. None for PySpark's own errors, whose messages already say it."""
    if type(err).__name__ != "Py4JJavaError":
        return None
    try:
        return SparkError(str(err.java_exception.getMessage()).strip())  # type: ignore[attr-defined]
    except Exception:  # the gateway may be gone
        return None
