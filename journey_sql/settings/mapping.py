"""Mapped expressions: `--column COLUMN=EXPR` parsed and checked before any SQL is written.

A mapped column is a column name or a scalar SQL expression over the source's own columns: no
statements, no subqueries, no table references, no aggregate or window functions, no functions that
read tables or files.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.tokens import TokenType

from journey_sql.core.errors import ConfigError
from journey_sql.dialects.dialect import CANONICAL

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
