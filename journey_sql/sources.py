"""Where the events come from: one or more tables (or event files), each mapped onto the six columns.

The stages read one relation with the six canonical columns (`id`,
`anonymous_id`, `user_id`, `event`, `timestamp`, `received_at`). This module
builds it: for a plain RudderStack/Segment `tracks` table it is the table
itself; otherwise a derived table

    (SELECT <expr> AS id, <expr> AS anonymous_id, ... FROM schema.table
     UNION ALL SELECT ... FROM schema.pages ...)

in the canonical dialect, which the stage templates read like a table and each
dialect transpiles with the rest of the SQL.

A mapped column is a column name or a scalar SQL expression over the source's
own columns. Every expression is parsed and checked here, before any SQL is
written: no statements, no subqueries, no table references, no aggregate or
window functions, no functions that read tables or files.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.tokens import TokenType

from journey_sql.dialects import CANONICAL
from journey_sql.errors import ConfigError, did_you_mean
from journey_sql.stages import SOURCE_COLUMNS

CANONICAL_COLUMNS: tuple[str, ...] = tuple(SOURCE_COLUMNS)

# What each kind of table contributes unless the user maps a column otherwise.
# RudderStack and Segment write the same columns; their pages and screens
# tables carry the page or screen `name` instead of an `event`.
_IDENTITY = {c: c for c in CANONICAL_COLUMNS}
PAGE_EVENT = "COALESCE('Page: ' || name, 'Page')"
SCREEN_EVENT = "COALESCE('Screen: ' || name, 'Screen')"
SNOWPLOW = {
    "id": "event_id",
    "anonymous_id": "domain_userid",
    "user_id": "user_id",
    "event": "event_name",
    "timestamp": "derived_tstamp",
    "received_at": "collector_tstamp",
}


@dataclass(frozen=True)
class Layout:
    name: str
    source_schema: str
    source_table: str
    summary: str

    def preset(self, table: str) -> dict[str, str]:
        """The default mapping for a table of this layout."""
        if self.name == "snowplow":
            return dict(SNOWPLOW)
        kind = table.lower()
        if kind == "pages":
            return {**_IDENTITY, "event": PAGE_EVENT}
        if kind == "screens":
            return {**_IDENTITY, "event": SCREEN_EVENT}
        return dict(_IDENTITY)


LAYOUTS: dict[str, Layout] = {
    layout.name: layout
    for layout in (
        Layout("rudderstack", "rudder", "tracks", "RudderStack tracks/pages/screens tables"),
        Layout("segment", "rudder", "tracks", "Segment tracks/pages/screens tables (the same columns)"),
        Layout("snowplow", "atomic", "events", "Snowplow's atomic.events table"),
    )
}
DEFAULT_LAYOUT = "rudderstack"


def get_layout(name: str | None) -> Layout:
    key = (name or DEFAULT_LAYOUT).strip().lower()
    if key not in LAYOUTS:
        raise ConfigError(f"Unknown --layout {name!r}.{did_you_mean(key, LAYOUTS)} Layouts: {', '.join(LAYOUTS)}.")
    return LAYOUTS[key]


# -- mapped expressions ---------------------------------------------------------

# Functions that read tables, files, settings or the environment: a mapping is a
# function of one event row and nothing else.
_TABLE_FUNCTIONS = (exp.ReadCSV, exp.ReadParquet)
_FORBIDDEN_NAMES = frozenset(
    {
        "query",
        "query_table",
        "glob",
        "getenv",
        "getvariable",
        "current_setting",
        "nextval",
        "currval",
        "setseed",
        "random",
        "uuid",
        "gen_random_uuid",
        "dblink",
        "load_extension",
        "external_query",
    }
)
_FORBIDDEN_PREFIXES = ("read_", "pg_", "sniff_", "parquet_", "duckdb_", "lo_", "system$")


def mapping_error(column: str, text: str, reason: str) -> ConfigError:
    return ConfigError(f"--column {column}={text!r} is rejected: {reason}. Nothing was run.")


def parse_expression(column: str, text: str) -> exp.Expression:
    """A mapped column's expression, checked to be a scalar function of the row's own columns."""
    if not isinstance(text, str) or not text.strip():
        raise mapping_error(column, str(text), "it is empty; give a column name or a SQL expression")
    try:
        tokens = sqlglot.tokenize(text, read=CANONICAL)
    except sqlglot.errors.TokenError as err:
        raise mapping_error(column, text, f"it is not valid SQL ({str(err).splitlines()[0]})") from None
    if any(t.token_type == TokenType.SEMICOLON for t in tokens):
        raise mapping_error(column, text, "a ';' ends a statement; a mapping is one expression")
    try:
        trees = sqlglot.parse(text, read=CANONICAL, error_level=sqlglot.ErrorLevel.RAISE)
    except sqlglot.errors.ParseError as err:
        raise mapping_error(column, text, f"it is not valid SQL ({str(err).splitlines()[0]})") from None
    if len(trees) != 1 or trees[0] is None:
        raise mapping_error(column, text, "it is not a single expression")
    tree = trees[0]
    assert isinstance(tree, exp.Expression)  # sqlglot types parse() as its base class
    for node in tree.walk():
        reason = _forbidden(node)
        if reason:
            raise mapping_error(column, text, reason)
    return tree


def _forbidden(node: exp.Expr) -> str | None:
    if isinstance(node, (exp.Query, exp.Subquery)):
        return "a subquery reads another table; a mapping is a scalar expression over the source's columns"
    if isinstance(node, (exp.DDL, exp.DML, exp.Command, exp.Drop, exp.Alter, exp.Transaction, exp.Commit)):
        return "it is a statement, not an expression"
    if isinstance(node, (exp.Table, *_TABLE_FUNCTIONS)):
        return "it reads another table or file"
    if isinstance(node, exp.Window):
        return "window functions look at other rows; a mapping sees one event row"
    if isinstance(node, exp.AggFunc):
        return "aggregate functions look at other rows; a mapping sees one event row"
    if isinstance(node, exp.Star):
        return "'*' is not a single column"
    if isinstance(node, (exp.Placeholder, exp.Parameter)):
        return "parameters are not supported"
    if isinstance(node, exp.Column) and (node.table or node.args.get("db")):
        return f"{node.sql(CANONICAL)} names a table; refer to the source's columns by name only"
    if isinstance(node, exp.Func):
        name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
        if name in _FORBIDDEN_NAMES or name.startswith(_FORBIDDEN_PREFIXES):
            return f"{name}() reads something other than the event row"
    return None


def referenced_columns(tree: exp.Expression) -> list[str]:
    """Lower-cased names of the source columns an expression reads, in order of appearance."""
    seen: dict[str, None] = {}
    for col in tree.find_all(exp.Column):
        seen.setdefault(col.name.lower(), None)
    return list(seen)


# -- the source -----------------------------------------------------------------


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
        return {c: parse_expression(_key(self, c), e) for c, e in self.mapping}

    def relation(self) -> exp.Expression:
        if self.path is None:
            return exp.table_(self.table, db=self.schema)
        return file_relation(self.path)

    def select(self) -> exp.Select:
        exprs = self.expressions()
        return exp.select(*(exp.alias_(exprs[c], c) for c in CANONICAL_COLUMNS)).from_(self.relation())


def _key(table: SourceTable, column: str) -> str:
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


FILE_READERS = {
    ".parquet": "read_parquet",
    ".json": "read_json_auto",
    ".jsonl": "read_json_auto",
    ".ndjson": "read_json_auto",
    ".csv": "read_csv_auto",
    ".tsv": "read_csv_auto",
}
_COMPRESSION = (".gz", ".zst")


def file_format(path: str) -> str | None:
    """'.parquet', '.json', ... from a path or glob, ignoring a compression suffix."""
    name = path.rstrip("/").lower()
    for suffix in _COMPRESSION:
        name = name.removesuffix(suffix)
    for ext in FILE_READERS:
        if name.endswith(ext):
            return ext
    return None


def resolve_path(path: str) -> str:
    """A glob DuckDB can read: a local folder becomes `folder/**/*.<format of its files>`."""
    if "://" not in path and file_format(path) is None and not _is_glob(path):
        check_local_files(path)  # a folder that does not exist: say that, not that its format is unknown
    if "://" not in path and os.path.isdir(os.path.expanduser(path)):
        folder = Path(os.path.expanduser(path))
        for file in sorted(folder.rglob("*")):
            if file.is_file() and file_format(file.name):
                suffix = file.name[file.name.lower().rindex(file_format(file.name) or "") :]
                return f"{str(folder).rstrip('/')}/**/*{suffix}"
        raise ConfigError(f"--source-path {path!r} is a folder without .parquet, .json, .jsonl or .csv files in it.")
    if file_format(path) is None:
        raise ConfigError(
            f"--source-path {path!r}: cannot tell the file format. Name files (or the glob) *.parquet, "
            "*.json, *.jsonl, *.json.gz or *.csv, e.g. 'events/*.parquet' or 'events/**/*.parquet'."
        )
    return path


def _is_glob(path: str) -> bool:
    return any(c in path for c in "*?[")


def check_local_files(path: str) -> None:
    """A local --source-path must exist, and a glob match a file: checked before a database is opened, so a
    typo leaves no new, empty DuckDB file behind (paths with a scheme, s3:// and the like, are DuckDB's to read)."""
    if "://" in path:
        return
    local = os.path.expanduser(path)
    where = "" if os.path.isabs(local) else f" (relative to {os.getcwd()})"
    if not _is_glob(local) and not os.path.exists(local):
        raise ConfigError(
            f"--source-path {path!r} does not exist{where}. Give the folder or files holding the events, "
            "e.g. --source-path events or --source-path 'events/*.parquet'."
        )
    if _is_glob(local) and not glob.glob(local, recursive=True):
        raise ConfigError(
            f"--source-path {path!r} matches no file{where}. Check the folder and the file extension, "
            "e.g. 'events/*.parquet' or 'events/**/*.jsonl'."
        )


def _typed(column: str, expression: str) -> str:
    """JSON and CSV carry no types and DuckDB guesses them (a UUID-looking id becomes UUID, a timestamp
    written without a fraction in some rows stays VARCHAR): a column read by name gets the type we read."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", expression):
        return expression
    return f"CAST({expression} AS {'TIMESTAMP' if SOURCE_COLUMNS[column] == 'timestamp' else 'VARCHAR'})"


def file_relation(path: str) -> exp.Expression:
    """DuckDB's reader for the files, with Hive partitions (day=2026-10-01/) read as columns."""
    reader = FILE_READERS[file_format(path) or ".parquet"]
    literal = exp.Literal.string(path).sql(CANONICAL)
    sql = f"SELECT * FROM {reader}({literal}, hive_partitioning = true)"
    return sqlglot.parse_one(sql, read=CANONICAL).args["from_"].this


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
            mapping = {c: _typed(c, e) for c, e in mapping.items()}
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


# -- checking against the catalog --------------------------------------------------


def type_family_of(tree: exp.Expression, columns: dict[str, str], family_of_name: Any) -> str:
    """'string', 'timestamp', 'other' or 'unknown' for a mapped expression over columns of known types."""
    if isinstance(tree, exp.Column):
        return family_of_name(columns.get(tree.name.lower(), ""))
    from sqlglot.optimizer.annotate_types import annotate_types

    schema: dict[str, str] = {}
    for name, type_name in columns.items():
        try:
            exp.DataType.build(type_name, dialect=CANONICAL)
            schema[name] = type_name
        except Exception:
            schema[name] = "UNKNOWN"
    probe = exp.select(tree.copy().as_("x")).from_("src")
    try:
        annotated = annotate_types(probe, schema={"src": schema}, dialect=CANONICAL)
        dtype = annotated.selects[0].type
    except Exception:
        return "unknown"
    if dtype is None or dtype.this in (exp.DataType.Type.UNKNOWN, exp.DataType.Type.NULL):
        return "unknown"
    if dtype.this in exp.DataType.TEXT_TYPES:
        return "string"
    if dtype.this in exp.DataType.TEMPORAL_TYPES and dtype.this not in (
        exp.DataType.Type.DATE,
        exp.DataType.Type.TIME,
        exp.DataType.Type.TIMETZ,
    ):
        return "timestamp"
    return "other"


ADVICE = {
    "string": "CAST({e} AS VARCHAR)",
    "timestamp": "CAST({e} AS TIMESTAMP) for ISO strings, epoch_ms({e}) for epoch milliseconds",
}


def require_duckdb(source: Source, dialect_name: str) -> None:
    if dialect_name != "duckdb" and any(t.path is not None for t in source.tables):
        raise ConfigError(
            f"--source-path reads files with DuckDB; {dialect_name} cannot. Use a duckdb:// connection "
            "(or load the files into a table and use --source-table)."
        )


def check_source_table(engine: Any, table: SourceTable, several: bool) -> dict[str, str]:
    """The table's columns (lower-cased name -> type), after checking the mapping against them."""
    from journey_sql.engines.base import type_family
    from journey_sql.errors import SourceError, first_line

    require_duckdb(Source("", (table,)), engine.dialect.name)
    if table.path is not None:
        try:
            columns = engine.relation_columns(engine.sql(table.relation()))
        except Exception as err:  # DuckDB's IOException etc.
            raise SourceError(f"Cannot read --source-path {table.path!r}: {first_line(err)}") from None
    else:
        assert table.schema is not None  # a table, not a file: it has a schema
        columns = engine.columns(table.schema, table.table)
        if columns is None:
            schemas = engine.schemas()
            if table.schema.lower() in (s.lower() for s in schemas):
                tables = engine.tables(table.schema)
                where = f"Tables in {table.schema}: {', '.join(tables) if tables else '(none)'}."
            else:
                where = f"Schema {table.schema} does not exist; schemas here: {', '.join(schemas) if schemas else '(none)'}."
            raise SourceError(
                f"Source table {table.label} not found in {engine.describe()}. {where} "
                "Point --source-schema and --source-table at your events table (see --layout)."
            )
    exprs = table.expressions()
    prefix = f"{table.table}." if several else ""
    missing: dict[str, str] = {}  # source column -> the canonical column that needs it
    for canonical, tree in exprs.items():
        for name in referenced_columns(tree):
            if name not in columns:
                missing.setdefault(name, canonical)
    if missing:
        first, needed_for = next(iter(missing.items()))
        example = _suggest(first, needed_for, columns) or "<its column or expression>"
        listed = [n if n == c else f"{n} (for {c})" for n, c in missing.items()]
        raise SourceError(
            f"Source {table.label} lacks the column(s) {', '.join(listed)}. journey-sql reads {', '.join(CANONICAL_COLUMNS)}; "
            f"map each to what the table has, e.g. --column {prefix}{needed_for}={example}. "
            f"Its columns: {', '.join(sorted(columns))}."
        )
    wrong = []
    for canonical, tree in exprs.items():
        family = SOURCE_COLUMNS[canonical]
        got = type_family_of(tree, columns, type_family)
        if got not in (family, "unknown"):
            text = dict(table.mapping)[canonical]
            shown = columns.get(text.lower(), "not a " + family) if isinstance(tree, exp.Column) else f"not a {family}"
            advice = ADVICE[family].format(e=text)
            wrong.append(
                f"{canonical} is {shown} (expected a {family} type; map it with --column "
                f'{prefix}{canonical}="...", e.g. {advice})'
            )
    if wrong:
        raise SourceError(f"Source {table.label} has columns of the wrong type: {'; '.join(wrong)}.")
    return columns


def _suggest(name: str, canonical: str, columns: dict[str, str]) -> str | None:
    """A column the user probably means: event_id or message_id for id, a close spelling otherwise."""
    import difflib

    free = [c for c in columns if c not in CANONICAL_COLUMNS]  # anonymous_id is no candidate for id
    for want in (name, canonical):
        ends = sorted(c for c in free if c.endswith("_" + want))
        if ends:
            return ends[0]
    close = difflib.get_close_matches(name, free, n=1, cutoff=0.6)
    return close[0] if close else None


def probe_source(engine: Any, source: Source) -> None:
    """Compile the mapped source on the engine without reading rows: the engine itself checks every
    expression, and where it can say the result's types (DuckDB), they are checked too. BigQuery bills
    bytes scanned even under LIMIT 0, so there it is a (free) dry run. A plain table needs no probe."""
    from journey_sql.engines.base import type_family
    from journey_sql.errors import SourceError, first_line

    relation = source.relation()
    if isinstance(relation, exp.Table):
        return
    select = exp.select(*CANONICAL_COLUMNS).from_(relation.copy().as_("src")).limit(0)
    sql = engine.dialect.generate(engine.dialect.transpile(select), pretty=False)
    types: dict[str, str] | None = None
    try:
        try:
            types = engine.relation_columns(sql)
        except NotImplementedError:
            dry_run = getattr(engine, "dry_run", None)
            engine.query(sql) if dry_run is None else dry_run(sql)
    except Exception as err:  # each driver has its own error type
        raise SourceError(
            f"The mapped source ({source.label}) does not run on {engine.describe()}: "
            f"{first_line(err).rstrip('.!')}. Check the --column expressions."
        ) from None
    if types:
        wrong = [
            f"{c} is {types[c]} (expected a {family} type)"
            for c, family in SOURCE_COLUMNS.items()
            if c in types and type_family(types[c]) != family
        ]
        if wrong:
            raise SourceError(
                f"The mapped source ({source.label}) gives columns of the wrong type: {'; '.join(wrong)}. "
                'Cast them in the --column expressions, e.g. --column timestamp="CAST(ts AS TIMESTAMP)".'
            )
