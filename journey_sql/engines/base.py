"""What every engine offers the executor. Subclasses override only what their warehouse does differently."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, ClassVar

from sqlglot import exp

from journey_sql.connection import ConnectionSpec
from journey_sql.dialects import Dialect, get_dialect
from journey_sql.errors import MissingDriverError


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


class Engine:
    """A live connection. The defaults speak ANSI information_schema SQL."""

    scheme: ClassVar[str]
    dialect_name: ClassVar[str]
    # True where DDL is transactional: the whole run is one transaction and a
    # failure rolls everything back. Otherwise tables are built under staging
    # names and swapped in at the end.
    transactional_ddl: ClassVar[bool] = False
    # How the engine folds unquoted names ("lower", "upper"), or None where it
    # finds a table and its columns whatever their case.
    case_fold: ClassVar[str | None] = None

    def __init__(self, spec: ConnectionSpec) -> None:
        self.spec = spec

    @classmethod
    def connect(cls, spec: ConnectionSpec, **options: Any) -> Engine:
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

    def count_rows(self, table: exp.Table) -> int:
        return int(self.query(f"SELECT COUNT(*) FROM {self.sql(table)}")[0][0])

    def drop_table(self, table: exp.Table) -> None:
        self.execute(self.sql(exp.Drop(tables=[table.copy()], kind="TABLE", exists=True)))

    def replace_table(self, final: exp.Table, staging: exp.Table) -> None:
        """Put a finished staging table in place of the final one."""
        self.drop_table(final)
        self.execute(f"ALTER TABLE {self.sql(staging)} RENAME TO {self.sql(exp.to_identifier(final.name))}")
