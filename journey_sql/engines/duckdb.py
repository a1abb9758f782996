"""The embedded default: a DuckDB file (or memory) on this machine."""

from __future__ import annotations

import os
import re
import shlex
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from journey_sql.core.errors import ConfigError, ConnectionError_, first_line
from journey_sql.dialects.names import DUCKDB_FILE_CATALOG as FILE_CATALOG
from journey_sql.engines.base import DBAPIEngine, import_driver
from journey_sql.engines.spec import ConnectionSpec

if TYPE_CHECKING:
    from journey_sql.compile.plan import Step

DEFAULT_FILE_MEMORY_LIMIT = "3GB"

# Columns with a different value in (nearly) every row: the event ids. DuckDB's
# string compression (DICT_FSST) spends more time choosing and applying itself
# to these random 36-character strings than the rest of a stage's write costs,
# and only halves them; stored uncompressed, each ten-million-row table is
# written about 1.5 s faster and takes about 185 MB more (docs/warehouses.md, DuckDB).
UNCOMPRESSED_COLUMNS = frozenset({"id", "event_id"})

# An incremental run deletes the rebuilt visitors' rows and appends new ones.
# DuckDB reclaims deleted rows only by merging neighbouring row groups whose
# rows fit in fewer (4 into 3 at most), so rows deleted evenly are not
# reclaimed before about a quarter of a table is dead; below that, the vacuum
# at commit only re-merges the partly filled row groups the run just appended
# (about 1 s of a 10M-event run, benchmarks/incremental.md). It runs when a
# table the run updates holds at least this share of deleted rows.
VACUUM_DEAD_SHARE = 0.25


class _Writeback:
    """Gets a database file's new pages written to disk while the build goes on.

    DuckDB writes a big table's row groups into the file as the statement runs,
    but the kernel keeps them in its page cache until the commit's fsync, which
    then waits for all of them: 0.8 s of a ten-million-event full build on this
    machine (docs/performance.md), where the kernel starts writing on its own only
    once dirty pages reach a tenth of RAM. An fsync from a background thread after
    each step overlaps that writing with the next step's work, and the commit
    finds little left to write. Best effort: the commit's own fsync is what makes
    the data durable, so an error here is ignored.

    The descriptor stays open until DuckDB has closed the file: closing any
    descriptor of a file drops every POSIX record lock this process holds on it,
    and DuckDB's lock is what keeps a second process out of the database.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd: int | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        if self.thread is not None and self.thread.is_alive():
            return  # still writing: the next step's call catches up
        if self.fd is None:
            try:
                self.fd = os.open(self.path, os.O_RDONLY)
            except OSError:
                return
        self.thread = threading.Thread(target=self._sync, args=(self.fd,), name="journey-sql writeback", daemon=True)
        self.thread.start()

    @staticmethod
    def _sync(fd: int) -> None:
        try:
            os.fsync(fd)
        except OSError:
            pass

    def close(self) -> None:
        """Once DuckDB has closed the file (see the class's note)."""
        if self.thread is not None:
            self.thread.join()
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class DuckDBEngine(DBAPIEngine):
    scheme = "duckdb"
    title = "DuckDB"
    example = "duckdb:///journey.duckdb, duckdb:////abs/path.duckdb or duckdb:///:memory:"
    url_is_local_path = True
    dbt_types = ("duckdb",)
    dialect_name = "duckdb"
    transactional_ddl = True
    replace_strategy = "drop_rename"  # inside the run's one transaction
    cheap_source_count = True
    counts_created_rows = True
    _vacuum: bool | None = None  # this run's commit vacuums (None: no table updated in place yet)
    _writeback: _Writeback | None = None  # a file database's; None in memory

    @classmethod
    def from_dbt_profile(cls, o: dict[str, Any]) -> tuple[str, dict[str, str]]:
        return f"duckdb:///{o.get('path', ':memory:')}", {}

    @classmethod
    def connect(
        cls,
        spec: ConnectionSpec,
        threads: int | None = None,
        memory_limit: str | None = None,
        create: bool = False,
        **_: Any,
    ) -> DuckDBEngine:
        duckdb = import_driver("duckdb", "duckdb")
        path = spec.path
        if path != ":memory:":
            file = Path(path).expanduser().resolve()
            if not file.parent.is_dir():
                raise ConnectionError_(f"Cannot open DuckDB file {path!r}: directory {file.parent} does not exist.")
            # apply reads a tracks table, so a missing file is a typo: say so
            # rather than leave an empty database behind
            if not create and not file.exists():
                raise ConnectionError_(
                    f"DuckDB file {file} does not exist. Point --connection at the database holding your "
                    f"tracks table, or run `journey-sql demo --database {shlex.quote(path)}` to create it with "
                    "sample data."
                )
        config: dict[str, Any] = {}
        wanted_threads = threads or spec.params.get("threads")  # the URL's is a string
        memory_limit = memory_limit or spec.params.get("memory_limit")
        if wanted_threads:
            try:
                config["threads"] = int(wanted_threads)
            except ValueError:
                raise ConfigError(f"--threads must be a whole number, got {wanted_threads!r}.") from None
        if memory_limit:
            config["memory_limit"] = str(memory_limit)
        elif path != ":memory:":
            # DuckDB's own default is 80% of RAM, which lets a ten-million-event
            # run grow past 4 GB resident. A file database can spill sorts to its
            # temp directory instead: 3 GB keeps a 10M-event run under 4 GB resident
            # (benchmarks/results.md); 1.5 GB halves that for about 25% more time.
            config["memory_limit"] = DEFAULT_FILE_MEMORY_LIMIT
        # Tables have no row order (docs/semantics.md), so DuckDB need not buffer
        # rows to keep one: less memory, and both threads write in parallel.
        config["preserve_insertion_order"] = False
        # Sorting ten million events needs room to spill; next to the database
        # file is where the user expects scratch space, not the current directory.
        if path != ":memory:":
            config["temp_directory"] = str(Path(path).expanduser().resolve()) + ".tmp"
        try:
            if path == ":memory:":
                con = duckdb.connect(path, config=config)
            else:
                # DuckDB names a file's catalog after the file, and then cannot
                # tell `analytics.t` in analytics.duckdb (the schema) from the
                # catalog: the file is attached under a name no schema uses.
                con = duckdb.connect(":memory:", config=config)
                quoted = os.path.expanduser(path).replace("'", "''")
                con.execute(f"ATTACH '{quoted}' AS {FILE_CATALOG}")
                con.execute(f"USE {FILE_CATALOG}")
                con.execute("DETACH memory")  # nor may the in-memory database's name clash with a schema
        except duckdb.Error as err:
            message = first_line(err)
            if "Could not set lock" in message:
                holder = re.search(r"held in (.*?) \(PID (\d+)\)", message)
                who = f" (PID {holder.group(2)}, {holder.group(1)})" if holder else ""
                raise ConnectionError_(
                    f"DuckDB file {path} is in use by another process{who}: another journey-sql run, or a "
                    "DuckDB client holding it open. Wait for it to finish or close it, then run again."
                ) from None
            raise ConnectionError_(f"Cannot open DuckDB database {path!r}: {message}") from None
        engine = cls(spec, con)
        if path != ":memory:":
            engine._writeback = _Writeback(str(Path(path).expanduser().resolve()))
        return engine

    def _run(self, sql: str, fetch: bool) -> list[tuple[Any, ...]]:
        # On the connection itself: a DuckDB cursor is a second connection,
        # outside the run's transaction.
        result = self.con.execute(sql)
        return result.fetchall() if fetch else []

    def inserted_rows(self, sql: str) -> int | None:
        """DuckDB answers an INSERT or CREATE TABLE AS with one row: the number of rows written."""
        rows = self._run(sql, fetch=True)
        return int(rows[0][0]) if rows and rows[0] and isinstance(rows[0][0], int) else None

    def write_step(self, step: Step) -> int | None:
        """Run a step, then have what it wrote go to disk while the next one runs (_Writeback).

        Before an incremental run replaces rows in place, its commit's vacuum is decided."""
        if step.kind == "update" and step.updates is not None:
            self._plan_vacuum(step.updates)
        written = self._write(step)
        if self._writeback is not None:
            self._writeback.start()
        return written

    def _write(self, step: Step) -> int | None:
        """A full build's table, created from its columns' types so the event ids are stored uncompressed.

        The rows are the compiled SELECT's, exactly as CREATE TABLE AS would
        write them; only the storage of UNCOMPRESSED_COLUMNS differs."""
        if step.kind not in ("events", "stage"):
            return super().write_step(step)
        select = self.dialect.generate(step.select)
        columns = [(str(row[0]), str(row[1])) for row in self.query(f"DESCRIBE {select}")]

        def uncompressed(name: str, type_name: str) -> bool:
            # only text: what DICT_FSST is for (numbers bit-pack cheaply; a STRUCT cannot be uncompressed)
            return name.lower() in UNCOMPRESSED_COLUMNS and type_name.upper() == "VARCHAR"

        if not any(uncompressed(*column) for column in columns):
            return super().write_step(step)
        table = self.sql(step.relation)
        definitions = ", ".join(
            f"{self.sql(exp.to_identifier(name, quoted=True))} {type_name}"
            + (" USING COMPRESSION uncompressed" if uncompressed(name, type_name) else "")
            for name, type_name in columns
        )
        self.execute(f"CREATE OR REPLACE TABLE {table} ({definitions})")
        return self.inserted_rows(f"INSERT INTO {table} {select}")

    def _plan_vacuum(self, table: exp.Table) -> None:
        """Vacuum at this run's commit only if `table` or a table updated before it is VACUUM_DEAD_SHARE dead."""
        if self._vacuum:
            return  # already on for this commit: no need to count the other tables
        stored = self.query(
            "SELECT estimated_size FROM duckdb_tables() WHERE database_name = current_database() "
            f"AND lower(schema_name) = lower('{table.db}') AND lower(table_name) = lower('{table.name}')"
        )
        live = self.query(f"SELECT COUNT(*) FROM {self.sql(table)}")[0][0]
        vacuum = bool(stored and stored[0][0]) and 1 - live / stored[0][0] >= VACUUM_DEAD_SHARE
        if vacuum or self._vacuum is None:
            # RESET: DuckDB's own default number of vacuum tasks
            self.execute("RESET max_vacuum_tasks" if vacuum else "SET max_vacuum_tasks = 0")
        self._vacuum = vacuum

    def begin(self) -> None:
        self._vacuum = None
        super().begin()

    def _after_close(self) -> None:
        if self._writeback is not None:
            self._writeback.close()  # only now: see _Writeback

    def explain(self, sql: str) -> str:
        return "\n".join(row[1] for row in self.query(f"EXPLAIN {sql}"))

    def relation_columns(self, sql: str) -> dict[str, str]:
        """Types of a query's or a file reader's columns: DESCRIBE reads only the files' schemas."""
        query = sql if sql.lstrip().upper().startswith("SELECT") else f"SELECT * FROM {sql}"
        return {str(r[0]).lower(): str(r[1]) for r in self.query(f"DESCRIBE {query}")}
