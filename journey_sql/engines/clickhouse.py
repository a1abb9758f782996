"""ClickHouse: embedded through chdb (`pip install 'journey-sql[chdb]'`), or a server
through clickhouse-connect (`pip install 'journey-sql[clickhouse]'`).

Connection URLs::

    chdb:///relative/dir    chdb:////abs/dir    chdb:///:memory:
    clickhouse://USER@HOST:8123/DATABASE?secure=true

chdb runs ClickHouse inside this process on a data directory, so tables
persist between runs; one process can hold one data directory at a time.
For a server, the password comes from CLICKHOUSE_PASSWORD or
JOURNEY_SQL_PASSWORD, never from the URL; DATABASE (default: the user's
default) only sets the session's database, as every name journey-sql writes
is qualified. The server path is exercised here only against chdb, never a
real server.

ClickHouse's DDL is not transactional, so the executor builds staging tables
and each replaces its final table with one atomic EXCHANGE TABLES (Atomic
databases, ClickHouse's default engine) or, on a first run, a RENAME.
ClickHouse names are case-sensitive: the catalog lookups match them exactly.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlglot import exp

from journey_sql.core.errors import ConfigError, ConnectionError_, JourneyError, did_you_mean, first_line
from journey_sql.engines.base import DBAPIEngine, Engine, import_driver, profile_pick, profile_query
from journey_sql.engines.spec import ConnectionSpec, redact_secrets

# For every query of a session. The executor counts duplicate deliveries with
# COUNT(DISTINCT id), which a server profile may have pointed at the
# approximate uniq(); the count must be exact.
SESSION_SETTINGS = {"count_distinct_implementation": "uniqExact"}
# Database engines that can EXCHANGE TABLES (chdb's default database is Overlay).
SWAPPING_DATABASE_ENGINES = ("Atomic", "Replicated", "Shared", "Overlay")
# Type wrappers that say nothing about the family: Nullable(String) is a string.
_WRAPPER = re.compile(r"^(Nullable|LowCardinality)\((.*)\)$")


def unwrap_type(type_name: str) -> str:
    """DateTime64(6, 'UTC') from LowCardinality(Nullable(DateTime64(6, 'UTC'))), for the source check."""
    while match := _WRAPPER.match(type_name.strip()):
        type_name = match.group(2)
    return type_name


def _literal(value: str) -> str:
    return exp.Literal.string(value).sql(dialect="clickhouse")


class _ClickHouse(Engine):
    """What both ClickHouse engines share: the catalog and how tables are put in place."""

    dialect_name = "clickhouse"
    transactional_ddl = False
    # DELETE and UPDATE are mutations (rewrites of whole parts), not row-level DML
    row_level_dml = False
    replace_strategy = "exchange"
    cheap_source_count = True

    def schemas(self) -> list[str]:
        return [r[0] for r in self.query("SELECT name FROM system.databases ORDER BY name")]

    def tables(self, schema: str) -> list[str]:
        rows = self.query(f"SELECT name FROM system.tables WHERE database = {_literal(schema)} ORDER BY name")
        return [r[0] for r in rows]

    def columns(self, schema: str, table: str) -> dict[str, str] | None:
        """Column name -> type without Nullable/LowCardinality wrappers. Names are
        not lower-cased: ClickHouse would not find `ID` under the name `id`."""
        rows = self.query(
            "SELECT name, type FROM system.columns "
            f"WHERE database = {_literal(schema)} AND table = {_literal(table)} ORDER BY position"
        )
        return {name: unwrap_type(str(dtype)) for name, dtype in rows} or None

    def create_schema(self, schema: str) -> None:
        """Create the database (Atomic, ClickHouse's default engine) or make sure an existing one can swap tables."""
        self.execute(f"CREATE DATABASE IF NOT EXISTS {self.sql(exp.to_identifier(schema))}")
        rows = self.query(f"SELECT engine FROM system.databases WHERE name = {_literal(schema)}")
        engine = rows[0][0] if rows else "?"
        if engine not in SWAPPING_DATABASE_ENGINES:
            raise JourneyError(
                f"Database {schema} uses ClickHouse's {engine} database engine, which cannot EXCHANGE TABLES; "
                f"choose another --schema (journey-sql creates it as Atomic) or one with engine "
                f"{', '.join(SWAPPING_DATABASE_ENGINES)}."
            )

    def _exists(self, table: exp.Table) -> bool:
        return bool(
            self.query(
                f"SELECT 1 FROM system.tables WHERE database = {_literal(table.db)} AND name = {_literal(table.name)}"
            )
        )

    def replace_table(self, final: exp.Table, staging: exp.Table) -> None:
        """One atomic step: readers see the old table or the new one, never none."""
        try:
            if self._exists(final):
                self.execute(f"EXCHANGE TABLES {self.sql(staging)} AND {self.sql(final)}")
            else:
                self.execute(f"RENAME TABLE {self.sql(staging)} TO {self.sql(final)}")
        except Exception as err:  # noqa: BLE001 - each driver has its own error type
            raise JourneyError(
                f"Putting {self.sql(final)} in place failed on {self.describe()}: {first_line(err)}. It still "
                "holds its previous rows; tables listed before it were already replaced. Run apply again."
            ) from None
        self.drop_table(staging)  # the previous table, after an exchange

    def explain(self, sql: str) -> str:
        return "\n".join(str(row[0]) for row in self.query(f"EXPLAIN {sql}"))


class ChdbEngine(DBAPIEngine, _ClickHouse):
    scheme = "chdb"
    title = "chdb"
    example = "chdb:///relative/dir, chdb:////abs/dir or chdb:///:memory:"
    url_is_local_path = True

    @classmethod
    def connect(cls, spec: ConnectionSpec, create: bool = False, **_: Any) -> ChdbEngine:
        unknown = sorted(spec.params)
        if unknown:
            raise ConfigError(f"chdb connections take no parameters (got {unknown[0]!r}): chdb:///path/to/dir.")
        path = spec.path
        if path != ":memory:":
            directory = Path(path).expanduser().resolve()
            if not directory.parent.is_dir():
                raise ConnectionError_(f"Cannot open chdb directory {path!r}: {directory.parent} does not exist.")
            if directory.exists() and not directory.is_dir():
                raise ConnectionError_(f"chdb needs a directory for its data, and {directory} is a file.")
            # apply reads a tracks table, so a missing directory is a typo
            if not create and not directory.exists():
                raise ConnectionError_(
                    f"chdb directory {directory} does not exist. Point --connection at the directory holding "
                    "your tracks table (chdb:///path/to/dir)."
                )
            path = str(directory)
        chdb = import_driver("chdb", "chdb")
        try:
            # A zone-less DateTime means UTC in this session, as everywhere in journey-sql.
            # progress=off: chdb would draw its progress bar on our stderr
            settings = "&".join(f"{k}={v}" for k, v in SESSION_SETTINGS.items())
            con = chdb.connect(f"{path}?session_timezone=UTC&progress=off&{settings}")
        except Exception as err:  # noqa: BLE001 - chdb raises RuntimeError and its own ChdbError
            raise ConnectionError_(
                f"Cannot open chdb database {spec.redacted()}: {first_line(err)}. chdb holds one data directory "
                "per process; close other chdb connections first."
            ) from None
        return cls(spec, con)

    def describe(self) -> str:
        return f"chdb:///{self.spec.path}"  # a path holds no secret; URL parsing would mangle :memory:


DEFAULT_SEND_RECEIVE_TIMEOUT = 3600
PARAMS = ("secure", "verify", "connect_timeout", "send_receive_timeout")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _flag(name: str, value: str) -> bool:
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ConfigError(f"ClickHouse parameter {name} must be true or false, got {value!r}.")


def connect_args(spec: ConnectionSpec) -> tuple[dict[str, Any], list[str]]:
    """clickhouse_connect.get_client's keyword arguments for `spec`, and the secrets among them."""
    unknown = [k for k in spec.params if k not in PARAMS]
    if unknown:
        raise ConfigError(
            f"Unknown ClickHouse connection parameter {unknown[0]!r}.{did_you_mean(unknown[0], PARAMS)} "
            f"Supported: {', '.join(PARAMS)}."
        )
    if not spec.host:
        raise ConfigError(
            f"ClickHouse connection {spec.redacted()} lacks a host: clickhouse://USER@HOST:8123/DATABASE."
        )
    if "/" in spec.path:
        raise ConfigError(f"ClickHouse connection {spec.redacted()}: the path is one database name, not {spec.path!r}.")
    params = spec.params
    secure = _flag("secure", params["secure"]) if "secure" in params else False
    args: dict[str, Any] = {
        "host": spec.host,
        # the HTTP(S) interface; the native protocol's 9000/9440 would not answer
        "port": spec.port or (8443 if secure else 8123),
        "username": spec.user or "default",
        "secure": secure,
        # lets an administrator find journey-sql's queries in system.query_log
        "client_name": "journey-sql",
        # one stage is one long HTTP request; the driver's 300 s would cut a big build short
        "send_receive_timeout": DEFAULT_SEND_RECEIVE_TIMEOUT,
        "settings": dict(SESSION_SETTINGS),
    }
    if spec.path:
        args["database"] = spec.path
    if "verify" in params:
        args["verify"] = _flag("verify", params["verify"])
    for name in ("connect_timeout", "send_receive_timeout"):
        if name in params:
            try:
                args[name] = int(params[name])
            except ValueError:
                raise ConfigError(f"{name} must be whole seconds, got {params[name]!r}.") from None
    secrets: list[str] = []
    password = spec.secret("password", env="CLICKHOUSE_PASSWORD")
    if password:
        args["password"] = password
        secrets.append(password)
    return args, secrets


class ClickHouseEngine(_ClickHouse):
    """A ClickHouse server over HTTP(S), through clickhouse-connect."""

    scheme = "clickhouse"
    title = "ClickHouse"
    example = "clickhouse://USER@HOST:8123/DATABASE"
    dbt_types = ("clickhouse",)

    @classmethod
    def from_dbt_profile(cls, o: dict[str, Any]) -> tuple[str, dict[str, str]]:
        """dbt-clickhouse: its schema is the ClickHouse database the tables go to."""
        if str(o.get("driver", "http")).lower() != "http":
            raise ConfigError(
                "journey-sql reaches ClickHouse over HTTP (clickhouse-connect): set driver: http and the HTTP port "
                "(8123, or 8443 with secure: true) in the dbt-clickhouse profile."
            )
        secure = str(o.get("secure", False)).lower() in ("true", "1", "yes")
        port = o.get("port") or (8443 if secure else 8123)
        params = {"secure": "true" if secure else None, **profile_pick(o, "connect_timeout", "send_receive_timeout")}
        if "verify" in o:
            params["verify"] = str(o["verify"]).lower()
        user = quote(str(o.get("user") or "default"))
        return f"clickhouse://{user}@{o.get('host', 'localhost')}:{port}{profile_query(params)}", profile_pick(
            o, "password"
        )

    def __init__(self, spec: ConnectionSpec, client: Any, secrets: list[str] | None = None) -> None:
        super().__init__(spec)
        self.client = client
        self._secrets = secrets or []

    @classmethod
    def connect(cls, spec: ConnectionSpec, **_: Any) -> ClickHouseEngine:
        args, secrets = connect_args(spec)
        driver = import_driver("clickhouse_connect", "clickhouse")
        # It logs every failed request with a traceback before raising; the
        # error it raises is reported on one line below.
        logging.getLogger("clickhouse_connect").setLevel(logging.CRITICAL)
        try:
            client = driver.get_client(**args)
        except Exception as err:  # noqa: BLE001 - clickhouse-connect raises its own errors and OSError alike
            raise ConnectionError_(
                f"Cannot connect to ClickHouse {spec.redacted()}: {redact_secrets(first_line(err), secrets)}. "
                "Check the host, port (8123 for HTTP, 8443 with ?secure=true), user and CLICKHOUSE_PASSWORD."
            ) from None
        return cls(spec, client, secrets)

    def execute(self, sql: str) -> None:
        self.client.command(sql)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.client.query(sql).result_rows]

    def close(self) -> None:
        self.client.close()
