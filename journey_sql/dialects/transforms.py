"""The tree transforms: each difference between dialects as one `exp.Expression -> exp.Expression` function.

Each transform exists for one reason, written beside it, and is shown alone on
the construct it exists for in tests/test_transforms.py. Which dialect applies
which is data: the table in journey_sql.dialects.dialect.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlglot
from sqlglot import exp

Transform = Callable[[exp.Expression], exp.Expression]

# The templates spell "microseconds since the Unix epoch" as DuckDB's
# epoch_us(ts). Differences of these integers are exact elapsed time on every
# engine, unlike minute-difference functions, which truncate on BigQuery and
# count boundaries on Snowflake and DuckDB.
EPOCH_US = "epoch_us"


def epoch_builder(sql: str, dialect: str) -> Callable[[exp.Expression], exp.Expression]:
    """An epoch builder from SQL in the target dialect, with __ts__ standing for the timestamp."""
    pattern = sqlglot.parse_one(sql, read=dialect)

    def build(ts: exp.Expression) -> exp.Expression:
        return pattern.copy().transform(lambda n: ts.copy() if isinstance(n, exp.Column) and n.name == "__ts__" else n)

    return build


def redshift_epoch_us(ts: exp.Expression) -> exp.Expression:
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


def finite_timestamps_only(tree: exp.Expression) -> exp.Expression:
    """The templates leave out 'infinity'/'-infinity' timestamps with DuckDB's
    isfinite(), which PostgreSQL shares. Elsewhere a timestamp is always
    finite (and isfinite() does not exist), so the test is TRUE."""

    def is_test(node: exp.Expression | None) -> bool:
        return isinstance(node, exp.Anonymous) and node.name.lower() == "isfinite"

    def visit(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.And) and is_test(node.expression):  # "x IS NOT NULL AND isfinite(x)"
            return node.this
        if is_test(node):
            return exp.true()
        return node

    return tree.transform(visit)


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


def delete_using_as_exists(tree: exp.Expression) -> exp.Expression:
    """BigQuery and Databricks have no DELETE ... USING. `DELETE FROM t USING u
    WHERE c` deletes the rows of t for which some row of u meets c, which is
    `DELETE FROM t WHERE EXISTS (SELECT 1 FROM u WHERE c)`: c names t's columns
    by the table's name, which both resolve to the table deleted from. (Not the
    canonical form: DuckDB plans the correlated EXISTS 30 times slower.)"""
    if not isinstance(tree, exp.Delete) or not tree.args.get("using"):
        return tree
    using = tree.args["using"]
    if len(using) != 1:
        raise ValueError("delete_using_as_exists takes one table in USING")
    where = tree.args.get("where")
    inner = exp.select("1").from_(using[0].copy())
    if where is not None:
        inner = inner.where(where.this.copy())
    tree = tree.copy()
    tree.set("using", None)
    tree.set("where", exp.Where(this=exp.Exists(this=inner)))
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


# -- ClickHouse -------------------------------------------------------------------

# ClickHouse's lag/lead (new in 24.x/25.x) and the older lagInFrame/leadInFrame
# return the column type's default ('' or 0) past the partition's edge, where
# the standard gives NULL; and *InFrame stop at the window frame, which by
# default ends at the current row. So each becomes *InFrame over the whole
# partition (present in every ClickHouse since 21.x), on toNullable(x): the
# default of a Nullable type is NULL.
