"""The source checked against the warehouse's catalog before a build: the tables exist, the mapped
columns exist and have usable types, and one row reads."""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from journey_sql.core.errors import SourceError, first_line
from journey_sql.core.stages import SOURCE_COLUMNS
from journey_sql.dialects.dialect import CANONICAL
from journey_sql.engines.base import Engine, type_family
from journey_sql.settings.layouts import CANONICAL_COLUMNS
from journey_sql.settings.mapping import referenced_columns
from journey_sql.settings.options import Settings
from journey_sql.settings.sources import Source, SourceTable, require_duckdb


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


def check_source_table(engine: Any, table: SourceTable, several: bool) -> dict[str, str]:
    """The table's columns (lower-cased name -> type), after checking the mapping against them."""
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


def check_source(engine: Engine, settings: Settings) -> dict[str, str]:
    """The first source table's columns, after making sure every source table can feed the six columns."""

    source = settings.sources
    found = [check_source_table(engine, table, len(source.tables) > 1) for table in source.tables]
    probe_source(engine, source)
    return found[0]


def real_source(engine: Engine, settings: Settings) -> exp.Expression | None:
    """What the steps read in place of the source where the engine would miss it unquoted (else None).

    Postgres folds unquoted names to lower case, so a table or column created
    as "TRACKS" or "ID" passes the (case-insensitive) source check but is not
    found by `rudder.tracks`/`src.id`. The catalog's spelling is used instead:
    the table quoted, and columns renamed in a derived table the stages read.
    """
    if not isinstance(settings.sources.relation(), exp.Table):
        # A mapped or multi-table source names its columns in --column
        # expressions, which are written unquoted like every other name.
        return None
    found = engine.real_names(settings.source_schema, settings.source_table)
    if found is None:
        return None
    schema, table, columns = found
    fold = str.upper if engine.case_fold == "upper" else str.lower

    def ident(name: str) -> exp.Identifier:
        return exp.to_identifier(name, quoted=name != fold(name))

    real: exp.Expression = exp.Table(this=ident(table), db=ident(schema))
    if any(columns.get(c, c) != fold(columns.get(c, c)) for c in SOURCE_COLUMNS):
        real = exp.select(*(exp.alias_(exp.column(ident(columns.get(c, c))), c) for c in SOURCE_COLUMNS)).from_(real)
    elif schema == fold(schema) and table == fold(table):
        return None
    return real
