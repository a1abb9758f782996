"""A throwaway PostgreSQL cluster, and the PostgreSQL and Redshift harnesses that run on it.

The cluster starts once per test process (initdb + start take a second or two),
is shared by every test that needs it, and is stopped and deleted at exit. It
listens on 127.0.0.1 on a free port, keeps its socket and data in a temporary
directory, and runs with fsync off: nothing in it is worth keeping.

PostgreSQL refuses to run as root, so as root the server runs as the `postgres`
OS user (or `nobody`); the temporary directory is handed to that user.

Redshift has no local stand-in, but it speaks PostgreSQL's protocol and the
redshift dialect keeps to SQL both share, so the Redshift harness runs the real
RedshiftEngine (and so redshift_connector) against the same cluster through
tests/pg_startup_shim.py. Passwords are stored as md5: redshift_connector's
SCRAM exchange does not complete against PostgreSQL.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from harness import SOURCE_COLUMNS, EngineHarness

from journey_sql.engines.base import Engine
from journey_sql.engines.connection import parse_connection

INSTALL_HINT = "PostgreSQL server binaries not found; install with apt-get install -y postgresql"
SUPERUSER = "journey"


def find_bindir() -> Path | None:
    """The directory holding initdb and pg_ctl: $PG_BINDIR, pg_config's, Debian's, or PATH."""
    candidates: list[str] = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(os.environ["PG_BINDIR"])
    if shutil.which("pg_config"):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, timeout=10)
            candidates.append(out.stdout.strip())
    # Debian/Ubuntu keep the server out of PATH; prefer the newest major version.
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted(
        versions, key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0, reverse=True
    )
    if shutil.which("initdb"):
        candidates.append(str(Path(shutil.which("initdb") or "").parent))
    for candidate in candidates:
        if candidate and all((Path(candidate) / tool).is_file() for tool in ("initdb", "pg_ctl")):
            return Path(candidate)
    return None


def _server_account() -> pwd.struct_passwd | None:
    """Who the server runs as: None for the current user, unless that is root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    pytest.skip("running as root and no 'postgres' or 'nobody' user exists to run PostgreSQL as (useradd postgres)")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclasses.dataclass
class Cluster:
    bindir: Path
    root: Path
    port: int
    run_as: pwd.struct_passwd | None
    user: str = SUPERUSER
    password: str = dataclasses.field(default_factory=lambda: secrets.token_urlsafe(16))
    host: str = "127.0.0.1"
    _databases: set[str] = dataclasses.field(default_factory=set)
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    def url(self, database: str, scheme: str = "postgresql", port: int | None = None, query: str = "") -> str:
        return f"{scheme}://{self.user}@{self.host}:{port or self.port}/{database}" + (f"?{query}" if query else "")

    def _pg(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        ids: dict[str, Any] = {}
        if self.run_as is not None:
            ids = {"user": self.run_as.pw_uid, "group": self.run_as.pw_gid, "extra_groups": []}
        env = {**os.environ, "LC_ALL": "C", "TZ": "UTC"}
        env.pop("PGDATA", None)
        return subprocess.run(
            [str(self.bindir / tool), *args],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            **ids,
        )

    def start(self) -> None:
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        sockets = self.root / "sock"
        sockets.mkdir()
        if self.run_as is not None:
            for path in (self.root, sockets, pwfile):
                os.chown(path, self.run_as.pw_uid, self.run_as.pw_gid)
        init = self._pg(
            "initdb", "-D", str(self.datadir), "-U", self.user, f"--pwfile={pwfile}", "--locale=C",
            "--encoding=UTF8", "--auth-local=trust", "--auth-host=md5", "--no-sync", "--no-instructions",
        )  # fmt: skip
        pwfile.unlink()
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{init.stdout}\n{init.stderr}")
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={sockets} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c timezone=UTC "
            "-c password_encryption=md5 -c max_connections=30"
        )
        started = self._pg(
            "pg_ctl", "-D", str(self.datadir), "-l", str(self.root / "log"), "-o", options, "-w", "-t", "60", "start"
        )
        if started.returncode != 0:
            log = (self.root / "log").read_text() if (self.root / "log").exists() else ""
            raise RuntimeError(f"pg_ctl start failed:\n{started.stdout}\n{started.stderr}\n{log}")
        # initdb stored the password as SCRAM (the default); store it again as md5
        # over the trusted local socket, for redshift_connector's sake.
        with self.admin(host=str(sockets)) as con:
            con.execute(f"ALTER ROLE {self.user} PASSWORD '{self.password}'")

    def stop(self) -> None:
        if (self.datadir / "postmaster.pid").exists():
            self._pg("pg_ctl", "-D", str(self.datadir), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def admin(self, host: str | None = None, dbname: str = "postgres") -> Any:
        import psycopg

        return psycopg.connect(
            host=host or self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=dbname,
            autocommit=True,
        )

    def login_role(self, name: str, password: str, scram: bool = False) -> str:
        """A login role authenticated by password over TCP (the cluster's pg_hba says md5 for every
        host line; PostgreSQL runs SCRAM for a role whose password is stored as SCRAM)."""
        with self._lock, self.admin() as con:
            con.execute(f"SET password_encryption = '{'scram-sha-256' if scram else 'md5'}'")
            con.execute(f"DROP ROLE IF EXISTS {name}")
            con.execute(f"CREATE ROLE {name} LOGIN SUPERUSER PASSWORD '{password}'")
        return name

    def database(self, name: str, fresh: bool = False, icu_locale: str | None = None) -> str:
        """Make sure database `name` exists (dropped and re-created when fresh); return its name.

        With icu_locale (e.g. "en-US") text sorts linguistically, as on most
        real servers, instead of the cluster's byte order.
        """
        with self._lock, self.admin() as con:
            if fresh or name not in self._databases:
                con.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                locale = f" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE '{icu_locale}'" if icu_locale else ""
                try:
                    con.execute(f"CREATE DATABASE {name}{locale}")
                except Exception as err:  # a server built without ICU: byte order it is
                    if not locale or "ICU" not in str(err):
                        raise
                    con.execute(f"CREATE DATABASE {name}")
                self._databases.add(name)
        return name


_CLUSTER: Cluster | None = None
_CLUSTER_FAILURE: BaseException | None = None  # a failed start is not retried by every test
_CLUSTER_LOCK = threading.Lock()


def shared_cluster() -> Cluster:
    """The process's cluster, started on first use and removed at exit; skips the test where impossible."""
    global _CLUSTER, _CLUSTER_FAILURE
    with _CLUSTER_LOCK:
        if _CLUSTER_FAILURE is not None:
            raise RuntimeError("the test PostgreSQL cluster failed to start earlier") from _CLUSTER_FAILURE
        if _CLUSTER is None:
            pytest.importorskip("psycopg", reason="psycopg is not installed: pip install 'journey-sql[postgres]'")
            bindir = find_bindir()
            if bindir is None:
                pytest.skip(INSTALL_HINT)
            account = _server_account()
            cluster = Cluster(
                bindir=bindir, root=Path(tempfile.mkdtemp(prefix="jsql-pg-")), port=_free_port(), run_as=account
            )
            try:
                cluster.start()
            except Exception as err:
                cluster.stop()
                _CLUSTER_FAILURE = err
                raise
            atexit.register(cluster.stop)
            _CLUSTER = cluster
        return _CLUSTER


def with_password(url: str, password: str) -> Any:
    """A ConnectionSpec carrying the password the way a dbt profile hands it over."""
    return dataclasses.replace(parse_connection(url), secrets={"password": password})


class PostgresHarness(EngineHarness):
    """Source typed the way RudderStack's PostgreSQL destination types it: text and timestamptz."""

    name = "postgres"
    text_type = "text"
    timestamp_type = "timestamp with time zone"

    @staticmethod
    def value(v: Any) -> Any:
        # The fixtures' naive datetimes are UTC; say so, whatever the session's TimeZone.
        return v.replace(tzinfo=UTC) if isinstance(v, datetime) and v.tzinfo is None else v

    def _insert(self, sql: str, rows: list[list[Any]]) -> None:
        with self.engine.con.cursor() as cur:
            cur.executemany(sql, rows)

    def load(self, rows: list[dict[str, Any]], schema: str = "rudder", table: str = "tracks") -> None:
        t, ts = self.text_type, self.timestamp_type
        self.engine.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        self.engine.execute(f"DROP TABLE IF EXISTS {schema}.{table}")
        self.engine.execute(
            f'CREATE TABLE {schema}.{table} (id {t}, anonymous_id {t}, user_id {t}, event {t}, "timestamp" {ts}, '
            f"received_at {ts}, context_library_name {t})"
        )
        if rows:
            self._insert(
                f"INSERT INTO {schema}.{table} VALUES (%s, %s, %s, %s, %s, %s, 'test')",
                [[self.value(r[c]) for c in SOURCE_COLUMNS] for r in rows],
            )

    def close(self) -> None:
        self.engine.close()


class RedshiftHarness(PostgresHarness):
    """Source typed the way RudderStack's Redshift destination types it: varchar(512) and timestamp."""

    name = "redshift"
    text_type = "varchar(512)"
    timestamp_type = "timestamp"

    def __init__(self, engine: Engine, shim: Any) -> None:
        super().__init__(engine)
        self.shim = shim

    @staticmethod
    def value(v: Any) -> Any:
        return v  # naive UTC, like the timestamp columns

    def _insert(self, sql: str, rows: list[list[Any]]) -> None:
        cursor = self.engine.con.cursor()
        try:
            cursor.executemany(sql, rows)
        finally:
            cursor.close()

    def close(self) -> None:
        super().close()
        self.shim.close()


def postgres_engine(database: str, cluster: Cluster | None = None, icu_locale: str | None = None) -> Engine:
    from journey_sql.engines.postgres import PostgresEngine

    cluster = cluster or shared_cluster()
    url = cluster.url(cluster.database(database, icu_locale=icu_locale))
    return PostgresEngine.connect(with_password(url, cluster.password))


def redshift_engine(database: str, shim_port: int, cluster: Cluster | None = None) -> Engine:
    from journey_sql.engines.redshift import RedshiftEngine

    cluster = cluster or shared_cluster()
    url = cluster.url(cluster.database(database), scheme="redshift", port=shim_port, query="ssl=false&timeout=30")
    return RedshiftEngine.connect(with_password(url, cluster.password))


@contextlib.contextmanager
def postgres_session() -> Iterator[PostgresHarness]:
    # A linguistic collation ('B' before 'a'), as on most real servers: the
    # postgres dialect must still break ties in code-point order.
    h = PostgresHarness(postgres_engine("jsql_cross_pg", icu_locale="en-US"))
    try:
        yield h
    finally:
        h.close()


@contextlib.contextmanager
def redshift_session() -> Iterator[RedshiftHarness]:
    pytest.importorskip(
        "redshift_connector", reason="redshift_connector is not installed: pip install 'journey-sql[redshift]'"
    )
    from pg_startup_shim import StartupShim

    cluster = shared_cluster()
    shim = StartupShim(cluster.port)
    try:
        h = RedshiftHarness(redshift_engine("jsql_cross_rs", shim.port, cluster), shim)
    except BaseException:
        shim.close()
        raise
    try:
        yield h
    finally:
        h.close()
