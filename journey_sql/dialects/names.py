"""Whether a schema or table name works on a target exactly as written.

Names are written unquoted, so each engine folds their case its own way
(Snowflake to upper, Postgres to lower), as RudderStack's destinations create
them. An unquoted name must then not be a word the target's parser reserves,
must fit the target's length limit, and an output schema must not be one of the
target's system schemas. Each rule is data per dialect, taken from the engine
itself (DuckDB's duckdb_keywords(), PostgreSQL 15's pg_get_keywords(), both the
categories that cannot name a schema) or from the vendor's documentation.

A last guard asks sqlglot, which writes and reads every statement: a name it
would quote, or does not read back as the same name, is rejected too, so every
name `render` accepts yields SQL that parses back in its dialect.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache

import sqlglot
from sqlglot import exp

from journey_sql.core.errors import ConfigError

CANONICAL = "duckdb"  # the templates' dialect (journey_sql.dialects.CANONICAL; not imported: no cycle)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.lower().split())


# DuckDB 1.x/2.x duckdb_keywords(): categories 'reserved' and 'type_function';
# 'temp' and 'system' name catalogs, so `temp.x` would be a temporary table.
_DUCKDB = _words(
    """
    all analyse analyze and any array as asc asymmetric both case cast check collate column constraint create
    default deferrable desc describe distinct do else end except false fetch for foreign from group having in
    initially intersect into lambda lateral leading limit not null offset on only or order pivot pivot_longer
    pivot_wider placing primary qualify references returning select show some summarize symmetric table then to
    trailing true union unique unpivot using variadic when where window with
    anti asof at authorization binary by collation columns concurrently cross freeze full generated glob ilike
    inner is isnull join left like map natural notnull outer overlaps positional right semi similar struct
    tablesample try_cast tuple unpack verbose
    temp system
    """
)

# PostgreSQL 15 pg_get_keywords(): catcode 'R' (reserved) and 'T' (type/function name).
_POSTGRES = _words(
    """
    all analyse analyze and any array as asc asymmetric both case cast check collate column constraint create
    current_catalog current_date current_role current_time current_timestamp current_user default deferrable desc
    distinct do else end except false fetch for foreign from grant group having in initially intersect into
    lateral leading limit localtime localtimestamp not null offset on only or order placing primary references
    returning select session_user some symmetric table then to trailing true union unique user using variadic when
    where window with
    authorization binary collation concurrently cross current_schema freeze full ilike inner is isnull join left
    like natural notnull outer overlaps right similar tablesample verbose
    """
)

# Amazon Redshift "Reserved words" (Database Developer Guide).
_REDSHIFT = _words(
    """
    aes128 aes256 all allowoverwrite analyse analyze and any array as asc authorization az64 backup between binary
    blanksasnull both bytedict bzip2 case cast check collate column constraint create credentials cross current_date
    current_time current_timestamp current_user current_user_id default deferrable deflate defrag delta delta32k
    desc disable distinct do else emptyasnull enable encode encrypt encryption end except explicit false for foreign
    freeze from full globaldict256 globaldict64k grant group gzip having identity ignore ilike in initially inner
    intersect interval into is isnull join leading left like limit localtime localtimestamp lun luns lzo lzop minus
    mostly16 mostly32 mostly8 natural new not notnull null nulls off offline offset oid old on only open or order
    outer overlaps parallel partition percent permissions pivot placing primary raw readratio recover references
    rejectlog resort respect restore right select session_user similar snapshot some sysdate system table tag tdes
    text255 text32k then timestamp to top trailing true truncatecolumns type union unique unnest unpivot user using
    verbose wallet when where with without
    """
)

# Snowflake "Reserved & limited keywords".
_SNOWFLAKE = _words(
    """
    account all alter and any as between by case cast check column connect connection constraint create cross
    current current_date current_time current_timestamp current_user database delete distinct drop else exists
    false following for from full grant group gscluster having ilike in increment inner insert intersect into is
    issue join lateral left like localtime localtimestamp minus natural not null of on or order organization
    qualify regexp revoke right rlike row rows sample schema select set some start table tablesample then to
    trigger true try_cast union unique update using values view when whenever where window with
    """
)

# BigQuery "Reserved keywords" (lexical structure).
_BIGQUERY = _words(
    """
    all and any array as asc assert_rows_modified at between by case cast collate contains create cross cube
    current default define desc distinct else end enum escape except exclude exists extract false fetch following
    for from full group grouping groups hash having if ignore in inner intersect interval into is join lateral left
    like limit lookup merge natural new no not null nulls of on or order outer over partition preceding proto
    qualify range recursive respect right rollup rows select set some struct tablesample then to treat true
    unbounded union unnest using when where window with within
    """
)

# Spark SQL's strict non-reserved keywords: not identifiers whatever the ANSI settings.
_SPARK = _words(
    "anti cross except full inner intersect join lateral left minus natural on right semi setminus union using"
)

# Trino "Reserved keywords".
_TRINO = _words(
    """
    alter and as between by case cast constraint create cross cube current_catalog current_date current_path
    current_role current_schema current_time current_timestamp current_user deallocate delete describe distinct
    drop else end escape except execute exists extract false for from full group grouping having in inner insert
    intersect into is join json_array json_exists json_object json_query json_table json_value left like listagg
    localtime localtimestamp natural normalize not null on or order outer prepare recursive right rollup select
    skip table then trim true uescape union unnest using values when where with
    """
)

# Athena runs DDL on Hive and queries on Trino: both lists apply.
_ATHENA = _TRINO | _words(
    """
    all array authorization bigint binary boolean both cache char column commit current cursor database date
    dayofweek decimal double exchange extended external fetch float floor following foreign function grant if import
    int integer interval lateral less local macro map more none numeric of only out over partialscan partition
    percent preceding precision preserve primary procedure range reads reduce references regexp revoke rlike
    rollback row rows set smallint start tablesample time timestamp transform trigger truncate unbounded uniquejoin
    update user utc_timestamp varchar views window
    """
)

_INFO = frozenset({"information_schema"})


@dataclass(frozen=True)
class NameRules:
    reserved: frozenset[str]
    max_length: int  # in bytes; names are ASCII, so also characters
    limit_source: str  # where the limit is documented, for the message
    system_schemas: frozenset[str] = _INFO
    system_prefixes: tuple[str, ...] = ()


# What journey-sql attaches a DuckDB file as (engines/duckdb.py): a catalog, so not a schema's name either.
DUCKDB_FILE_CATALOG = "journey_sql_file"

RULES: dict[str, NameRules] = {
    # DuckDB documents no limit; 255 keeps file names and messages sane.
    "duckdb": NameRules(
        _DUCKDB,
        255,
        "journey-sql's cap for DuckDB",
        _INFO | {"pg_catalog", "temp", "system", DUCKDB_FILE_CATALOG},
    ),
    "postgres": NameRules(_POSTGRES, 63, "PostgreSQL's NAMEDATALEN", _INFO, ("pg_",)),
    "redshift": NameRules(_REDSHIFT, 127, "Redshift's identifier limit", _INFO | {"pg_catalog"}, ("pg_",)),
    "snowflake": NameRules(_SNOWFLAKE, 255, "Snowflake's identifier limit", _INFO),
    "bigquery": NameRules(_BIGQUERY, 1024, "BigQuery's dataset/table name limit", _INFO),
    "spark": NameRules(_SPARK, 255, "the Hive metastore's name limit", _INFO | {"global_temp"}),
    "databricks": NameRules(
        _SPARK, 255, "Databricks' name limit", _INFO | {"global_temp", "builtin", "session", "system"}
    ),
    "trino": NameRules(_TRINO, 255, "journey-sql's cap for Trino", _INFO),
    "athena": NameRules(_ATHENA, 255, "the Glue catalog's name limit", _INFO),
    # ClickHouse reserves almost no words as names (the sqlglot guard catches the
    # few its parser cannot read back); tables are directories on disk, so the
    # file system's 255-byte name limit applies. `system` holds the server's tables.
    "clickhouse": NameRules(frozenset(), 255, "the file system's name limit under ClickHouse", _INFO | {"system"}),
}


# A dialect without an entry yet: only the sqlglot guard below knows its keywords.
DEFAULT_RULES = NameRules(frozenset(), 255, "journey-sql's default cap", _INFO)


@lru_cache(maxsize=4096)
def _sqlglot_reads_back(name: str, sqlglot_dialect: str) -> bool:
    """Whether sqlglot writes `name` unquoted in schema and table position, and reads it back as written."""
    table = exp.table_(exp.to_identifier(name, quoted=False), db=exp.to_identifier(name, quoted=False))
    statements = [
        exp.Create(this=exp.Table(this=exp.to_identifier(name, quoted=False)), kind="SCHEMA", exists=True),
        exp.Drop(tables=[table.copy()], kind="TABLE", exists=True),
        exp.Create(this=table.copy(), kind="TABLE", expression=exp.select("1"), replace=False),
        exp.Create(this=table.copy(), kind="TABLE", expression=exp.select("1"), replace=True),
        exp.select("src.id").from_(table.copy().as_("src")),
    ]
    log = logging.getLogger("sqlglot")
    for statement in statements:
        level = log.level
        log.setLevel(logging.CRITICAL)  # sqlglot warns when it falls back to an opaque Command
        try:
            sql = statement.sql(dialect=sqlglot_dialect)
            back = sqlglot.parse_one(sql, read=sqlglot_dialect, error_level=sqlglot.ErrorLevel.RAISE)
        except (sqlglot.errors.SqlglotError, RecursionError):  # sqlglot recurses forever on a few keywords
            return False
        finally:
            log.setLevel(level)
        idents = [i for i in back.find_all(exp.Identifier) if i.name.lower() == name.lower()]
        if not idents or any(i.quoted or i.name != name for i in idents):
            return False
        if back.sql(dialect=sqlglot_dialect) != sql:
            return False
    return True


def check_name(name: str, what: str, dialect_name: str, sqlglot_dialect: str, output: bool = False) -> None:
    """Raise ConfigError, with the reason, unless `name` works unquoted on the dialect."""
    rules = RULES.get(dialect_name, DEFAULT_RULES)
    lower = name.lower()
    if lower in rules.reserved:
        raise ConfigError(
            f"{what} {name!r} is a reserved word in {dialect_name} SQL and cannot be used as a name there; "
            "choose another name (for example with a prefix or suffix)."
        )
    if len(name.encode()) > rules.max_length:
        raise ConfigError(
            f"{what} {name!r} is {len(name.encode())} bytes long; {dialect_name} allows at most "
            f"{rules.max_length} ({rules.limit_source}). Choose a shorter name."
        )
    if output and (lower in rules.system_schemas or lower.startswith(rules.system_prefixes)):
        raise ConfigError(
            f"{what} {name!r} is a system schema on {dialect_name}; write the tables to a schema of your own, "
            "e.g. --schema analytics."
        )
    if not _sqlglot_reads_back(name, sqlglot_dialect):
        raise ConfigError(
            f"{what} {name!r} is a keyword in {dialect_name} SQL and cannot be used unquoted as a name there; "
            "choose another name."
        )
    if not _sqlglot_reads_back(name, CANONICAL):
        raise ConfigError(
            f"{what} {name!r} is a keyword in DuckDB SQL, which journey-sql's stage templates are written in "
            "before they are translated, so it cannot be a name there; choose another name."
        )


def check_settings_names(settings: object, dialect_name: str, sqlglot_dialect: str) -> None:
    """Every name a run uses, checked for one target, before any SQL is written or run."""
    check_name(settings.source_schema, "--source-schema", dialect_name, sqlglot_dialect)  # type: ignore[attr-defined]
    for table in settings.sources.tables:  # type: ignore[attr-defined]
        if table.table is not None:  # (a --source-path names files, not tables)
            check_name(table.table, "--source-table", dialect_name, sqlglot_dialect)
    check_name(settings.schema, "--schema", dialect_name, sqlglot_dialect, output=True)  # type: ignore[attr-defined]
