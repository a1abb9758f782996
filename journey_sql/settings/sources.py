"""Where the events come from: one or more tables (or event files), each mapped onto the six columns.

The stages read one relation with the six canonical columns (`id`,
`anonymous_id`, `user_id`, `event`, `timestamp`, `received_at`). This module
builds it: for a plain RudderStack/Segment `tracks` table it is the table
itself; otherwise a derived table

    (SELECT <expr> AS id, <expr> AS anonymous_id, ... FROM schema.table
     UNION ALL SELECT ... FROM schema.pages ...)

in the canonical dialect, which the stage templates read like a table and each
dialect transpiles with the rest of the SQL.

Layouts (layouts.py), mapped expressions (mapping.py) and event files (files.py)
are checked before any SQL is written; run/checks.py checks the mapping
against the warehouse's catalog.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from journey_sql.core.errors import ConfigError, did_you_mean
from journey_sql.settings.files import file_format, file_relation, resolve_path, typed_for_text_files
from journey_sql.settings.layouts import CANONICAL_COLUMNS, get_layout
from journey_sql.settings.mapping import parse_expression


@dataclass(frozen=True)
class SourceTable:
    """One table (or file pattern) and how each canonical column is read from it."""

    schema: str | None
    table: str | None
    path: str | None
    mapping: tuple[tuple[str, str], ...]  # (canonical column, expression in the canonical dialect)

    @property
    def label(self) -> str:
        return self.path if self.path is not None else f"{self.schema}.{self.table}"

    @property
    def is_identity(self) -> bool:
        return self.path is None and all(c == e for c, e in self.mapping)

    def expressions(self) -> dict[str, exp.Expression]:
        return {c: parse_expression(source_key(self, c), e) for c, e in self.mapping}

    def relation(self) -> exp.Expression:
        if self.path is None:
            return exp.table_(self.table, db=self.schema)
        return file_relation(self.path)

    def select(self) -> exp.Select:
        exprs = self.expressions()
        return exp.select(*(exp.alias_(exprs[c], c) for c in CANONICAL_COLUMNS)).from_(self.relation())


def source_key(table: SourceTable, column: str) -> str:
    return column if table.table is None else f"{table.table}.{column}"


@dataclass(frozen=True)
class Source:
    layout: str
    tables: tuple[SourceTable, ...]

    def relation(self) -> exp.Expression:
        """What the stages read: the table itself when nothing is mapped, else a derived table."""
        if len(self.tables) == 1 and self.tables[0].is_identity:
            return self.tables[0].relation()
        selects = [t.select() for t in self.tables]
        query: exp.Expression = selects[0]
        for select in selects[1:]:
            query = exp.union(query, select, distinct=False)
        return exp.Subquery(this=query)

    @property
    def label(self) -> str:
        return " + ".join(t.label for t in self.tables)


def parse_columns(items: Any) -> list[tuple[str, str]]:
    """`--column` values ('key=expr', repeatable) or a [columns] table, as (key, expr) pairs."""
    if not items:
        return []
    if isinstance(items, dict):
        pairs: list[tuple[str, str]] = []
        for key, value in items.items():
            if isinstance(value, dict):  # [columns.pages] event = "..."
                pairs += [(f"{key}.{k}", v) for k, v in value.items()]
            else:
                pairs.append((str(key), value))
        return [(k, v if isinstance(v, str) else str(v)) for k, v in pairs]
    if isinstance(items, str):
        items = [items]
    pairs = []
    for item in items:
        key, eq, value = str(item).partition("=")
        if not eq or not key.strip():
            raise ConfigError(
                f"--column {item!r} needs the form COLUMN=EXPRESSION, e.g. --column event=event_text "
                "or --column pages.event=\"'Page: ' || name\"."
            )
        pairs.append((key.strip(), value.strip()))
    return pairs


def build_source(
    layout: str | None,
    source_schema: str,
    source_tables: tuple[str, ...],
    source_path: str | None,
    columns: list[tuple[str, str]],
) -> Source:
    """Validate layout, tables and mapping, before any SQL is written or run."""
    chosen = get_layout(layout)
    names = [t.lower() for t in source_tables]
    if len(set(names)) != len(names):
        raise ConfigError(f"--source-table lists a table twice: {', '.join(source_tables)}.")
    if source_path is not None and len(source_tables) > 1:
        raise ConfigError("Give either --source-path or several --source-table, not both.")
    overrides: dict[str | None, dict[str, str]] = {}
    for key, value in columns:
        table, dot, column = key.rpartition(".")
        table_key: str | None = table.lower() if dot else None
        column = column.lower()
        if column not in CANONICAL_COLUMNS:
            raise ConfigError(
                f"--column {key}=...: {column!r} is not a column journey-sql reads.{did_you_mean(column, CANONICAL_COLUMNS)} "
                f"Map any of {', '.join(CANONICAL_COLUMNS)}."
            )
        if table_key is not None and (source_path is not None or table_key not in names):
            where = (
                "a --source-path has no table names"
                if source_path is not None
                else (f"the source tables are {', '.join(source_tables)}")
            )
            raise ConfigError(f"--column {key}=...: {table!r} is not a source table ({where}).")
        parse_expression(key, value)  # reject bad expressions now, with the key the user wrote
        overrides.setdefault(table_key, {})[column] = value
    if source_path is not None:
        mapping = {**chosen.preset(""), **overrides.get(None, {})}
        path = resolve_path(source_path)
        if file_format(path) != ".parquet":
            mapping = {c: typed_for_text_files(c, e) for c, e in mapping.items()}
        tables: tuple[SourceTable, ...] = (SourceTable(None, None, path, tuple(mapping.items())),)
    else:
        tables = tuple(
            SourceTable(
                source_schema,
                name,
                None,
                tuple({**chosen.preset(name), **overrides.get(None, {}), **overrides.get(name.lower(), {})}.items()),
            )
            for name in source_tables
        )
    return Source(layout=chosen.name, tables=tables)


def require_duckdb(source: Source, dialect_name: str) -> None:
    if dialect_name != "duckdb" and any(t.path is not None for t in source.tables):
        raise ConfigError(
            f"--source-path reads files with DuckDB; {dialect_name} cannot. Use a duckdb:// connection "
            "(or load the files into a table and use --source-table)."
        )
