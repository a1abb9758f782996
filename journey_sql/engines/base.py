"""What every engine offers the executor. Subclasses override only what their warehouse does differently."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar
from urllib.parse import urlencode

from sqlglot import exp

from journey_sql.core.errors import MissingDriverError
from journey_sql.dialects.dialect import Dialect, get_dialect
from journey_sql.engines.spec import ConnectionSpec

if TYPE_CHECKING:
    from journey_sql.compile.plan import Step

T = TypeVar("T")


def import_driver(module: str, extra: str) -> ModuleType:
    """Import a connector, or say exactly how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingDriverError(
            f"The {extra} connector is not installed ({err.name or module} is missing). "
            f"Install it with: pip install 'journey-sql[{extra}]'"
        ) from None


def type_family(type_name: str) -> str:
    """'string', 'timestamp' or 'other', from a type as the engine's catalog spells it."""
    t = type_name.lower()
    if "timestamp" in t or t.startswith("datetime"):
        return "timestamp"
    if any(word in t for word in ("char", "text", "string")):
        return "string"
    return "other"


# How an engine puts a finished staging table in place of the final one (replace_table):
#   "drop_rename"       DROP the final table, RENAME the staging one (atomic inside a transaction)
#   "rename_aside"      RENAME the final table aside, the staging one into place, then DROP the old one
#   "exchange"          one atomic EXCHANGE TABLES (or RENAME on a first run)
#   "copy"              an atomic copy job / CREATE OR REPLACE ... AS SELECT from the staging table
ReplaceStrategy = Literal["drop_rename", "rename_aside", "exchange", "copy"]


def profile_query(params: Mapping[str, Any]) -> str:
    """A URL query string from a dbt profile's settings, leaving out empty ones."""
    clean = {k: str(v) for k, v in params.items() if v not in (None, "")}
    return ("?" + urlencode(clean)) if clean else ""


# dbt's own aliases for profile fields (dbt-postgres and dbt-redshift accept `pass` for `password`).
_PROFILE_ALIASES = {"password": ("pass",), "dbname": ("database",)}


def profile_pick(output: Mapping[str, Any], *names: str) -> dict[str, str]:
    """The named settings of a dbt profile output that are set, under dbt's aliases too."""
    picked = {}
    for name in names:
        for key in (name, *_PROFILE_ALIASES.get(name, ())):
            if output.get(key) not in (None, ""):
                picked[name] = str(output[key])
                break
    return picked


class Engine:
    """A live connection. The defaults speak ANSI information_schema SQL.

    Each engine class is the one home of everything about its warehouse: its
    URL scheme(s) and example, the dbt adapter types it converts, its SQL
    dialect (`dialect_name`, an entry of journey_sql.dialects.DIALECTS that
    lists its transforms), its capabilities, how it connects and how it
    replaces a table. The registries (connection URL examples, dbt profile
    converters, scheme -> class) are derived from these attributes by
    journey_sql.engines.registry.
    """

    scheme: ClassVar[str]
    # the warehouse's name in messages
    title: ClassVar[str]
    # other spellings of the scheme accepted in a URL (postgres:// for postgresql://)
    scheme_aliases: ClassVar[tuple[str, ...]] = ()
    # for error messages: how a URL for this engine looks
    example: ClassVar[str]
    # scheme:///relative, scheme:////absolute or scheme:///:memory: rather than USER@HOST:PORT/PATH
    url_is_local_path: ClassVar[bool] = False
    # the dbt adapter types (profiles.yml `type:`) from_dbt_profile converts
    dbt_types: ClassVar[tuple[str, ...]] = ()
    dialect_name: ClassVar[str]
    # True where DDL is transactional: the whole run is one transaction and a
    # failure rolls everything back. Otherwise tables are built under staging
    # names and swapped in at the end.
    transactional_ddl: ClassVar[bool] = False
    # True where the engine has a dry_run(sql) method that costs a query without running it
    supports_dry_run: ClassVar[bool] = False
    # True where tables take DELETE/UPDATE/MERGE of single rows: incremental
    # builds update tables in place; elsewhere they build each table anew and swap it in
    row_level_dml: ClassVar[bool] = True
    # True where COUNT(*) of a table costs no scan (catalog metadata or column
    # statistics): incremental builds then count the source to notice rows that
    # arrived beyond the lookback, or a source that lost rows
    cheap_source_count: ClassVar[bool] = False
    # True where the driver answers CREATE TABLE AS with the rows it wrote (as INSERT): apply then
    # reports each step's rows without a COUNT(*) of the table afterwards
    counts_created_rows: ClassVar[bool] = False
    replace_strategy: ClassVar[ReplaceStrategy] = "drop_rename"
    # How the engine folds unquoted names ("lower", "upper"), or None where it
    # finds a table and its columns whatever their case.
    case_fold: ClassVar[str | None] = None

    def __init__(self, spec: ConnectionSpec) -> None:
        self.spec = spec

    @classmethod
    def connect(cls, spec: ConnectionSpec, **options: Any) -> Engine:
        raise NotImplementedError

    @classmethod
    def from_dbt_profile(cls, output: dict[str, Any]) -> tuple[str, dict[str, str]]:
        """A dbt profile output (type in dbt_types) -> (connection URL, secrets beside it)."""
        raise NotImplementedError

    @property
    def dialect(self) -> Dialect:
        return get_dialect(self.dialect_name)

    def describe(self) -> str:
        return self.spec.redacted()

    # -- running SQL ---------------------------------------------------------
    def execute(self, sql: str) -> None:
        raise NotImplementedError

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    # Called only where transactional_ddl is True; other engines never open one.
    def begin(self) -> None:
        self.execute("BEGIN")

    def commit(self) -> None:
        self.execute("COMMIT")

    def rollback(self) -> None:
        self.execute("ROLLBACK")

    def close(self) -> None:
        pass

    def explain(self, sql: str) -> str | None:
        """The engine's plan for a query, or None where it offers none."""
        return None

    def write_step(self, step: Step) -> int | None:
        """Run a plan step: its statements as compiled (an engine may store the same rows its own way).

        For an "update" step, whose last statement inserts the rebuilt rows, the rows it inserted where
        the driver reports them (so they need not be counted by running its select again); the same
        for every step where the driver also counts what CREATE TABLE AS writes; else None."""
        *before, last = step.statements
        for sql in before:
            self.execute(sql)
        if step.kind == "update" or self.counts_created_rows:
            return self.inserted_rows(last)
        self.execute(last)
        return None

    def inserted_rows(self, sql: str) -> int | None:
        """Run an INSERT; the rows it inserted, or None where the driver does not say."""
        self.execute(sql)
        return None

    # -- catalog ---------------------------------------------------------------
    def sql(self, node: exp.Expression) -> str:
        return node.sql(dialect=self.dialect.sqlglot_name)

    def schemas(self) -> list[str]:
        rows = self.query("SELECT DISTINCT schema_name FROM information_schema.schemata ORDER BY 1")
        return [r[0] for r in rows]

    def tables(self, schema: str) -> list[str]:
        rows = self.query(
            "SELECT table_name FROM information_schema.tables "
            f"WHERE lower(table_schema) = {exp.Literal.string(schema.lower()).sql()} ORDER BY 1"
        )
        return [r[0] for r in rows]

    def columns(self, schema: str, table: str) -> dict[str, str] | None:
        """Lower-cased column name -> type, or None where the table does not exist."""
        rows = self.query(
            "SELECT column_name, data_type FROM information_schema.columns "
            f"WHERE lower(table_schema) = {exp.Literal.string(schema.lower()).sql()} "
            f"AND lower(table_name) = {exp.Literal.string(table.lower()).sql()}"
        )
        return {name.lower(): str(dtype) for name, dtype in rows} or None

    def real_names(self, schema: str, table: str) -> tuple[str, str, dict[str, str]] | None:
        """The source's schema, table and {lower-cased column: column} as the catalog spells them.

        None where the engine ignores case (case_fold is None): the names as
        given work. Otherwise read from information_schema, preferring the
        table spelt exactly as given, then as the engine folds it.
        """
        if self.case_fold is None:
            return None
        rows = self.query(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns "
            f"WHERE lower(table_schema) = {exp.Literal.string(schema.lower()).sql()} "
            f"AND lower(table_name) = {exp.Literal.string(table.lower()).sql()}"
        )
        if not rows:
            return None
        fold = str.upper if self.case_fold == "upper" else str.lower
        found = sorted({(str(s), str(t)) for s, t, _ in rows})
        best = next(
            (st for want in ((schema, table), (fold(schema), fold(table))) for st in found if st == want), found[0]
        )
        columns = {str(c).lower(): str(c) for s, t, c in rows if (s, t) == best}
        return best[0], best[1], columns

    def lock_schema(self, schema: str) -> bool:
        """Inside the run's transaction: claim `schema` for this run; False if another run holds it."""
        return True

    def relation_columns(self, sql: str) -> dict[str, str]:
        """Lower-cased column name -> type of a query's result, where the engine can say without running it."""
        raise NotImplementedError

    def create_schema(self, schema: str) -> None:
        self.execute(f"CREATE SCHEMA IF NOT EXISTS {self.sql(exp.to_identifier(schema))}")

    def analyze(self, table: exp.Table) -> None:
        """After a step wrote `table`: give the planner what it needs to plan the steps that read it."""

    def count_rows(self, table: exp.Table) -> int:
        return int(self.query(f"SELECT COUNT(*) FROM {self.sql(table)}")[0][0])

    def drop_table(self, table: exp.Table) -> None:
        self.execute(self.sql(exp.Drop(tables=[table.copy()], kind="TABLE", exists=True)))

    def replace_table(self, final: exp.Table, staging: exp.Table) -> None:
        """Put a finished staging table in place of the final one."""
        self.drop_table(final)
        self.execute(f"ALTER TABLE {self.sql(staging)} RENAME TO {self.sql(exp.to_identifier(final.name))}")


class DBAPIEngine(Engine):
    """An engine over one DB-API connection (`self.con`): a cursor per statement, closed after it.

    Engines whose driver needs something else override only that: `_cursor_error`
    to reword a driver's error, or execute/query where the driver is not DB-API.
    """

    def __init__(self, spec: ConnectionSpec, con: Any) -> None:
        super().__init__(spec)
        self.con = con

    def _run(self, sql: str, fetch: bool) -> list[tuple[Any, ...]]:
        return self._on_cursor(sql, lambda cursor: [tuple(row) for row in cursor.fetchall()] if fetch else [])

    def _on_cursor(self, sql: str, read: Callable[[Any], T]) -> T:
        """Execute `sql` on a cursor of its own and return what `read` takes from it."""
        cursor = self.con.cursor()
        try:
            cursor.execute(sql)
            return read(cursor)
        except Exception as err:
            reworded = self._cursor_error(err)
            if reworded is err:
                raise
            raise reworded from err
        finally:
            cursor.close()

    def inserted_rows(self, sql: str) -> int | None:
        """DB-API's rowcount: -1 (or None) where the driver cannot say."""
        count = self._on_cursor(sql, lambda cursor: cursor.rowcount)
        return count if isinstance(count, int) and count >= 0 else None

    def _cursor_error(self, err: Exception) -> Exception:
        """The error to raise for a failed statement; the driver's own by default."""
        return err

    def execute(self, sql: str) -> None:
        self._run(sql, fetch=False)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        return self._run(sql, fetch=True)

    def close(self) -> None:
        try:
            self.con.close()
        finally:
            self._after_close()

    def _after_close(self) -> None:
        """Let go of what an engine holds beside its connection, once the connection is closed."""
