"""Everything that differs between SQL dialects, in one place.

The stage templates are written once, in DuckDB's dialect (the canonical one:
it runs as written on the embedded default). Rendering for another warehouse
parses that SQL, applies the small tree transforms its `Dialect` entry lists,
and lets sqlglot generate the target with unsupported constructs raising.
Each transform is a pure `exp.Expression -> exp.Expression` function with the
reason it exists; a new quirk is a new function and a line in the table below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp

from journey_sql.errors import ConfigError, did_you_mean

Transform = Callable[[exp.Expression], exp.Expression]

CANONICAL = "duckdb"

# The templates spell "microseconds since the Unix epoch" as DuckDB's
# epoch_us(ts). Differences of these integers are exact elapsed time on every
# engine, unlike minute-difference functions, which truncate on BigQuery and
# count boundaries on Snowflake and DuckDB.
EPOCH_US = "epoch_us"


def _parsed(sql: str, dialect: str) -> Callable[[exp.Expression], exp.Expression]:
    """An epoch builder from SQL in the target dialect, with __ts__ standing for the timestamp."""
    pattern = sqlglot.parse_one(sql, read=dialect)

    def build(ts: exp.Expression) -> exp.Expression:
        return pattern.copy().transform(lambda n: ts.copy() if isinstance(n, exp.Column) and n.name == "__ts__" else n)

    return build


def _redshift_epoch_us(ts: exp.Expression) -> exp.Expression:
    # Redshift's EXTRACT returns whole seconds (an INTEGER) for TIMESTAMP, and
    # EXTRACT(SECOND) drops the fraction, so whole minutes come from EXTRACT and
    # the seconds with their fraction from DATE_PART, which Postgres shares.
    # DATE_PART is built verbatim: sqlglot would turn it back into EXTRACT.
    minutes = sqlglot.parse_one("CAST(EXTRACT(EPOCH FROM DATE_TRUNC('minute', __ts__)) AS BIGINT)", read="redshift")
    minutes = minutes.transform(lambda n: ts.copy() if isinstance(n, exp.Column) and n.name == "__ts__" else n)
    seconds = exp.Anonymous(this="DATE_PART", expressions=[exp.Literal.string("second"), ts.copy()])
    micros_in_minute = exp.cast(
        exp.func("ROUND", exp.Mul(this=seconds, expression=exp.Literal.number(1_000_000))), "BIGINT"
    )
    # parenthesised: the sum is an operand of larger arithmetic (a - b), and the
    # generator does not add parentheses to a tree built by hand
    return exp.paren(
        exp.Add(this=exp.Mul(this=minutes, expression=exp.Literal.number(1_000_000)), expression=micros_in_minute)
    )


def rewrite_epoch_us(build: Callable[[exp.Expression], exp.Expression]) -> Transform:
    def transform(tree: exp.Expression) -> exp.Expression:
        def visit(node: exp.Expression) -> exp.Expression:
            if isinstance(node, exp.Anonymous) and node.name.lower() == EPOCH_US:
                return build(node.expressions[0])
            return node

        return tree.transform(visit)

    return transform


def unquote_identifiers(tree: exp.Expression) -> exp.Expression:
    """Let each engine fold names its own way.

    Every name in our SQL is a plain name (user input is validated), so nothing
    needs quoting for its spelling; the generator still quotes reserved words.
    Quoting would pin lower case, which misses the upper-case TRACKS and
    ANONYMOUS_ID that RudderStack's Snowflake destination creates.
    """
    for ident in tree.find_all(exp.Identifier):
        ident.set("quoted", False)
    return tree


_AGGREGATES = (exp.Sum, exp.Count, exp.Max, exp.Min, exp.Avg)


def bigquery_plain_window_order(tree: exp.Expression) -> exp.Expression:
    """BigQuery rejects NULLS FIRST/LAST in the ORDER BY of an aggregate window.
    Our aggregate windows sort by timestamp and id, never NULL there, so their
    null order is set to BigQuery's default and nothing is printed."""
    for window in tree.find_all(exp.Window):
        if isinstance(window.this, _AGGREGATES) and window.args.get("order"):
            for ordered in window.args["order"].expressions:
                ordered.set("nulls_first", not ordered.args.get("desc"))
    return tree


_TEXT_SORT_KEYS = frozenset({"id", "event_id", "event", "anonymous_id", "user_id"})


def postgres_binary_collation(tree: exp.Expression) -> exp.Expression:
    """Postgres sorts text by the database's collation, often a linguistic one
    (en_US puts 'B' before 'a' and ignores dashes). Ties are broken by ids in
    code-point order everywhere else, so text sort keys get COLLATE "C"."""
    for window in tree.find_all(exp.Window):
        order = window.args.get("order")
        for ordered in order.expressions if order else ():
            key = ordered.this
            if isinstance(key, exp.Column) and key.name.lower() in _TEXT_SORT_KEYS:
                ordered.set("this", exp.Collate(this=key.copy(), expression=exp.Identifier(this="C", quoted=True)))
    return tree


REDSHIFT_MAX_VARCHAR = 65535


def redshift_sized_varchar(tree: exp.Expression) -> exp.Expression:
    """sqlglot spells an unsized VARCHAR as Redshift's VARCHAR(MAX), which is
    VARCHAR(65535) there; the number means the same on Redshift and also runs on
    PostgreSQL, which the Redshift tests run against."""
    for dtype in tree.find_all(exp.DataType):
        if dtype.this in (exp.DataType.Type.VARCHAR, exp.DataType.Type.TEXT) and not dtype.expressions:
            sized = exp.DataType.build(f"VARCHAR({REDSHIFT_MAX_VARCHAR})")
            dtype.replace(sized)
    return tree


@dataclass(frozen=True)
class Dialect:
    """One target. `sqlglot_name` is what sqlglot calls it; the rest is how it differs."""

    name: str
    sqlglot_name: str
    epoch_us: Callable[[exp.Expression], exp.Expression] | None
    create_or_replace: bool = True  # else DROP TABLE IF EXISTS, then CREATE TABLE AS
    table_format: str | None = None  # e.g. Spark's USING PARQUET
    extra_transforms: tuple[Transform, ...] = field(default=())

    @property
    def transforms(self) -> tuple[Transform, ...]:
        epoch = (rewrite_epoch_us(self.epoch_us),) if self.epoch_us else ()
        return (*epoch, unquote_identifiers, *self.extra_transforms)

    def transpile(self, tree: exp.Expression) -> exp.Expression:
        for transform in self.transforms:
            tree = transform(tree)
        return tree

    def generate(self, tree: exp.Expression, pretty: bool = True) -> str:
        return tree.sql(dialect=self.sqlglot_name, pretty=pretty, unsupported_level=sqlglot.ErrorLevel.RAISE)

    def create_table_as(self, table: exp.Table, select: exp.Expression) -> list[exp.Expression]:
        """Statements that (re)create `table` from `select`."""
        properties = (
            exp.Properties(expressions=[exp.FileFormatProperty(this=exp.Var(this=self.table_format))])
            if self.table_format
            else None
        )
        create = exp.Create(
            this=table.copy(), kind="TABLE", expression=select, replace=self.create_or_replace, properties=properties
        )
        if self.create_or_replace:
            return [create]
        return [exp.Drop(tables=[table.copy()], kind="TABLE", exists=True), create]


_SPARK_EPOCH = _parsed("UNIX_MICROS(__ts__)", "spark")
_TRINO_EPOCH = _parsed("CAST(ROUND(TO_UNIXTIME(__ts__) * 1000000) AS BIGINT)", "trino")

DIALECTS: dict[str, Dialect] = {
    d.name: d
    for d in (
        Dialect("duckdb", "duckdb", epoch_us=None),
        Dialect(
            "postgres",
            "postgres",
            _parsed("CAST(EXTRACT(EPOCH FROM __ts__) * 1000000 AS BIGINT)", "postgres"),
            create_or_replace=False,
            extra_transforms=(postgres_binary_collation,),
        ),
        Dialect(
            "redshift",
            "redshift",
            _redshift_epoch_us,
            create_or_replace=False,
            extra_transforms=(redshift_sized_varchar,),
        ),
        Dialect(
            "snowflake",
            "snowflake",
            _parsed("DATE_PART(EPOCH_MICROSECOND, __ts__)", "snowflake"),
        ),
        Dialect(
            "bigquery",
            "bigquery",
            # the CAST is a no-op on TIMESTAMP and reads a DATETIME column as UTC:
            # BigQuery has no implicit DATETIME -> TIMESTAMP conversion
            _parsed("UNIX_MICROS(CAST(__ts__ AS TIMESTAMP))", "bigquery"),
            extra_transforms=(bigquery_plain_window_order,),
        ),
        # Spark's session catalog keeps Parquet tables, which cannot be REPLACEd.
        Dialect("spark", "spark", _SPARK_EPOCH, create_or_replace=False, table_format="PARQUET"),
        Dialect("databricks", "databricks", _SPARK_EPOCH),
        Dialect("trino", "trino", _TRINO_EPOCH, create_or_replace=False),
        Dialect("athena", "athena", _TRINO_EPOCH, create_or_replace=False),
    )
}

ALIASES = {"postgresql": "postgres", "pg": "postgres", "bq": "bigquery", "sf": "snowflake", "presto": "trino"}


def get_dialect(name: str) -> Dialect:
    key = (name or "").strip().lower()
    key = ALIASES.get(key, key)
    if key in DIALECTS:
        return DIALECTS[key]
    raise ConfigError(
        f"Unknown dialect {name!r}.{did_you_mean(key, [*DIALECTS, *ALIASES])} Supported: {', '.join(DIALECTS)}."
    )
