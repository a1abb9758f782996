"""PostgreSQL, through psycopg 3.

URL: postgresql://USER@HOST:5432/DATABASE[?sslmode=require&...]. Every URL
parameter is handed to libpq as a connection keyword (sslmode, sslrootcert,
connect_timeout, application_name, options, target_session_attrs, ...), so libpq
itself reports a misspelt one. The password comes from a dbt profile, else
PGPASSWORD, else JOURNEY_SQL_PASSWORD; when none is set, none is passed and
libpq looks in ~/.pgpass (or PGPASSFILE) as usual.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import quote

from sqlglot import exp

from journey_sql.core.errors import ConfigError, ConnectionError_
from journey_sql.engines.base import DBAPIEngine, import_driver, profile_pick, profile_query
from journey_sql.engines.spec import ConnectionSpec, redact_secrets

# libpq waits forever for an unreachable host by default; a CLI should not.
DEFAULT_CONNECT_TIMEOUT = "10"


def schema_lock_key(schema: str) -> int:
    """A stable signed 64-bit advisory-lock key for a schema name, the same in every process."""
    digest = hashlib.sha256(f"journey-sql:{schema.lower()}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PostgresFamily(DBAPIEngine):
    """What PostgreSQL and Redshift share: catalogs, plans, dbt profiles. DDL is transactional on both."""

    transactional_ddl = True
    replace_strategy = "drop_rename"  # inside the run's one transaction
    case_fold = "lower"
    default_port: int

    @classmethod
    def from_dbt_profile(cls, o: dict[str, Any]) -> tuple[str, dict[str, str]]:
        user = quote(str(o.get("user", "")))
        host = o.get("host", "localhost")
        port = o.get("port", cls.default_port)
        url = f"{cls.scheme}://{user}@{host}:{port}/{o.get('dbname') or o.get('database', '')}"
        return url + profile_query(cls.profile_params(o)), profile_pick(o, "password")

    @classmethod
    def profile_params(cls, o: dict[str, Any]) -> dict[str, Any]:
        """URL parameters from a dbt profile output."""
        return {}

    def schemas(self) -> list[str]:
        # information_schema.schemata lists only schemas the user owns or may use,
        # and the catalog's pg_toast & co. are noise in an error message.
        rows = self.query(
            "SELECT nspname FROM pg_catalog.pg_namespace "
            "WHERE SUBSTRING(nspname, 1, 3) <> 'pg_' AND nspname <> 'information_schema' ORDER BY 1"
        )
        return [r[0] for r in rows]

    def explain(self, sql: str) -> str:
        return "\n".join(str(row[0]) for row in self.query(f"EXPLAIN {sql}"))

    def analyze(self, table: exp.Table) -> None:
        # A table created inside the run's transaction has no statistics until
        # autovacuum sees it committed, so the planner guesses its size and can
        # pick nested loops over the next step's joins (22 s instead of 0.3 s for
        # the alias mapping of 100k events). ANALYZE samples it in the transaction.
        self.execute(f"ANALYZE {self.sql(table)}")


class PostgresEngine(PostgresFamily):
    scheme = "postgresql"
    scheme_aliases = ("postgres",)
    title = "PostgreSQL"
    example = "postgresql://USER@HOST:5432/DATABASE"
    dbt_types = ("postgres",)
    default_port = 5432
    dialect_name = "postgres"

    @classmethod
    def profile_params(cls, o: dict[str, Any]) -> dict[str, Any]:
        return {"sslmode": o.get("sslmode")}

    @classmethod
    def connect_args(cls, spec: ConnectionSpec) -> tuple[dict[str, Any], str | None]:
        """psycopg.connect's keyword arguments for `spec`, and the password among them (to scrub from errors)."""
        if "password" in spec.params:  # (the URL is not repeated: it holds the password)
            raise ConfigError(
                "Put no password in the connection URL: set PGPASSWORD or JOURNEY_SQL_PASSWORD, or use ~/.pgpass."
            )
        password = spec.secret("password", env="PGPASSWORD")
        kwargs: dict[str, Any] = {
            "connect_timeout": DEFAULT_CONNECT_TIMEOUT,
            "application_name": "journey-sql",
            **spec.params,
        }
        for key, value in (("host", spec.host), ("port", spec.port), ("user", spec.user), ("dbname", spec.path)):
            if value:
                kwargs[key] = value
        if password is not None:  # else libpq reads PGPASSWORD / ~/.pgpass itself
            kwargs["password"] = password
        return kwargs, password

    @classmethod
    def connect(cls, spec: ConnectionSpec, **_: Any) -> PostgresEngine:
        psycopg = import_driver("psycopg", "postgres")
        kwargs, password = cls.connect_args(spec)
        try:
            # Autocommit: catalog checks and CREATE SCHEMA stand alone; the
            # executor's begin() opens the one transaction the stages run in.
            con = psycopg.connect(autocommit=True, **kwargs)
        except psycopg.Error as err:
            message = redact_secrets(str(err).strip(), [password]).replace("\n\t", " ").replace("\n", " ")
            raise ConnectionError_(
                f"Cannot connect to PostgreSQL at {spec.redacted()}: {message}. Check host, port, user and "
                "database, and the password (PGPASSWORD, JOURNEY_SQL_PASSWORD or ~/.pgpass)."
            ) from None
        return cls(spec, con)

    def begin(self) -> None:
        super().begin()
        # JIT (PostgreSQL 11 on) compiles a statement's expressions once its estimated cost passes
        # jit_above_cost. An incremental run's steps read small work tables, yet joins of them are
        # often estimated large: one step spent 0.42 s compiling for 0.04 s of work. At 1M events
        # the incremental run took 3.95-4.42 s with JIT and 3.55 s without; the full refresh
        # 13.8-14.2 s either way (benchmarks/incremental.md). Off for the run's transaction only.
        if self.con.info.server_version >= 110000:
            self.execute("SET LOCAL jit = off")

    def lock_schema(self, schema: str) -> bool:
        # A transaction-level advisory lock: released by COMMIT, ROLLBACK or a
        # lost connection, so a killed run never leaves it behind for long.
        return bool(self.query(f"SELECT pg_try_advisory_xact_lock({schema_lock_key(schema)})")[0][0])

    def rollback(self) -> None:
        # After a lost connection the server has rolled back already; a failing
        # ROLLBACK here would only hide the error that brought us here.
        if self.con.closed or self.con.broken:
            return
        self.execute("ROLLBACK")
