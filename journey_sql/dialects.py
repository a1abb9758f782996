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


def duckdb_rescan_filtered_ctes(tree: exp.Expression) -> exp.Expression:
    """DuckDB materializes a CTE that is read more than once: every row and
    column of it is copied into a temporary buffer first. For a CTE that only
    filters and projects one table (the stages' `events`, read three times by
    dbt_aliases_mapping) that copy costs more than scanning the columnar table
    again with the filter pushed into the scan (a quarter of the stage at 1M
    events). Such CTEs are marked NOT MATERIALIZED; the result is the same."""
    reads: dict[str, int] = {}
    for table in tree.find_all(exp.Table):
        if not table.db:
            reads[table.name.lower()] = reads.get(table.name.lower(), 0) + 1
    for cte in tree.find_all(exp.CTE):
        body = cte.this
        plain_scan = (
            isinstance(body, exp.Select)
            and isinstance(body.args.get("from_"), exp.From)
            and isinstance(body.args["from_"].this, exp.Table)
            and not any(body.args.get(k) for k in ("joins", "group", "having", "qualify", "order", "limit", "distinct"))
            and not any(body.find_all(exp.Window, exp.AggFunc, exp.Subquery, exp.Union))
        )
        if plain_scan and reads.get(cte.alias.lower(), 0) > 1 and cte.args.get("materialized") is None:
            cte.set("materialized", False)
    return tree


def duckdb_rank_repeated_ids_only(tree: exp.Expression) -> exp.Expression:
    """Ranking every source row among the deliveries of its id sorts all of
    them, though an id almost always arrives once. DuckDB finds the ids that
    arrive more than once with a hash aggregate instead, ranks only their
    rows, and gives every other row rank 1, which is what ROW_NUMBER gives a
    partition of one row (events step at 10M events: 8.5 s -> 5.7 s). The
    source is scanned three times rather than once; on a local columnar table
    a scan costs far less than the sort (engines that bill or time scans keep
    the one read). Matches a SELECT over one relation, without WHERE, joins or
    grouping, whose one window is ROW_NUMBER() partitioned by an `id` column.
    NULL ids are matched with IS NOT DISTINCT FROM: they form one partition."""
    for select in list(tree.find_all(exp.Select)):
        windows = [p for p in select.expressions if isinstance(p.unalias(), exp.Window)]
        from_ = select.args.get("from_")
        if len(windows) != 1 or not isinstance(from_, exp.From):
            continue
        window = windows[0].unalias()
        partition = window.args.get("partition_by") or []
        if (
            not isinstance(window.this, exp.RowNumber)
            or window.args.get("spec")
            or len(partition) != 1
            or not isinstance(partition[0], exp.Column)
            or partition[0].name.lower() != "id"
            or any(select.args.get(k) for k in ("joins", "where", "group", "having", "qualify", "distinct", "limit"))
            or not isinstance(select.parent, exp.Subquery)
            or len(list(select.find_all(exp.Window))) != 1
        ):
            continue
        key, relation = partition[0], from_.this
        alias = relation.alias_or_name
        # the ids that arrive more than once
        cte = exp.CTE(
            this=exp.select(exp.alias_(exp.column(key.name, table=alias), "repeated_id"))
            .from_(relation.copy())
            .group_by(exp.column(key.name, table=alias))
            .having(exp.GT(this=exp.Count(this=exp.Star()), expression=exp.Literal.number(1))),
            alias=exp.TableAlias(this=exp.to_identifier("jsql_repeated_ids")),
        )
        repeated = exp.to_table("jsql_repeated_ids").as_("jsql_r")
        same_id = exp.NullSafeEQ(
            this=exp.column("repeated_id", table="jsql_r"), expression=exp.column(key.name, table=alias)
        )
        once = select.copy()
        once.set(
            "expressions",
            [exp.alias_(exp.Literal.number(1), p.alias) if p is windows[0] else p.copy() for p in select.expressions],
        )
        once = once.join(repeated.copy(), on=same_id.copy(), join_type="anti")
        ranked = select.copy().join(repeated, on=same_id, join_type="semi")
        union = exp.union(once, ranked, distinct=False)
        union.set("with_", exp.With(expressions=[cte]))
        select.replace(union)
    return tree


REDSHIFT_MAX_VARCHAR = 65535


def duckdb_partition_totals_by_hash(tree: exp.Expression) -> exp.Expression:
    """A total over a whole partition (`SUM(x) OVER (PARTITION BY k)`, no ORDER
    BY) makes DuckDB sort every row by `k`; a hash aggregate per `k`, joined
    back on `k`, gives each row the same total in half the time (the
    incremental run's first step at 10M events: 0.39 s -> 0.20 s). Matches a
    SELECT over one relation, without WHERE, joins or grouping, whose windows
    are all SUM, COUNT, MIN or MAX over the same PARTITION BY of columns. The
    keys are matched with IS NOT DISTINCT FROM: NULL is one partition."""
    for select in list(tree.find_all(exp.Select)):
        from_ = select.args.get("from_")
        if not isinstance(from_, exp.From) or not isinstance(from_.this, exp.Table):
            continue
        if any(select.args.get(k) for k in ("where", "joins", "group", "having", "qualify", "distinct")):
            continue
        windows = [p for p in select.expressions if isinstance(p.unalias(), exp.Window)]
        if not windows or not all(isinstance(p, exp.Alias) for p in windows):
            continue
        specs = [p.this for p in windows]
        plain = all(
            isinstance(w.this, (exp.Sum, exp.Count, exp.Min, exp.Max))
            and not w.args.get("order")
            and not w.args.get("spec")
            and w.args.get("partition_by")
            and all(isinstance(c, exp.Column) for c in w.args["partition_by"])
            for w in specs
        )
        if not plain or len({tuple(c.sql() for c in w.args["partition_by"]) for w in specs}) != 1:
            continue
        if any(not c.table for c in select.find_all(exp.Column)):
            continue  # an unqualified name could also be one of jsql_totals' columns
        keys = specs[0].args["partition_by"]
        names = [f"jsql_key_{i}" for i in range(len(keys))]
        totals = (
            exp.select(
                *(exp.alias_(k.copy(), n) for k, n in zip(keys, names, strict=True)),
                *(exp.alias_(w.this.copy(), p.alias) for w, p in zip(specs, windows, strict=True)),
            )
            .from_(from_.this.copy())
            .group_by(*(k.copy() for k in keys))
        )
        on = exp.and_(
            *(
                exp.NullSafeEQ(this=exp.column(n, table="jsql_totals"), expression=k.copy())
                for k, n in zip(keys, names, strict=True)
            )
        )
        for p in windows:
            p.set("this", exp.column(p.alias, table="jsql_totals"))
        select.join(
            exp.Subquery(this=totals, alias=exp.TableAlias(this=exp.to_identifier("jsql_totals"))), on=on, copy=False
        )
    return tree


def duckdb_prunable_received_window(tree: exp.Expression) -> exp.Expression:
    """An incremental run reads the rows `received_at >= (watermark - lookback)
    OR received_at IS NULL OR watermark IS NULL` (templates/_incremental.sql.j2).
    DuckDB skips the row groups whose received_at range lies before the cutoff,
    but only for a comparison it can see whole: inside that OR it scans every
    row (0.85 s of a 10M-row table and events table, against 0.35 s). The
    filtered relation becomes the UNION ALL of `received_at >= COALESCE(cutoff,
    '-infinity')` and `received_at IS NULL`: the same rows (with no watermark
    the cutoff is -infinity, so every row with a received_at), each once."""
    for select in list(tree.find_all(exp.Select)):
        where, from_ = select.args.get("where"), select.args.get("from_")
        if not isinstance(where, exp.Where) or not isinstance(from_, exp.From) or select.args.get("joins"):
            continue
        condition = where.this.unnest()
        parts = list(condition.flatten()) if isinstance(condition, exp.Or) else []
        if len(parts) != 3:
            continue
        at_or_after, no_received_at, no_watermark = (p.unnest() for p in parts)
        if not (
            isinstance(at_or_after, exp.GTE)
            and isinstance(at_or_after.this, exp.Column)
            and at_or_after.this.name.lower() == "received_at"
            and isinstance(at_or_after.expression, exp.Subquery)
            and isinstance(no_received_at, exp.Is)
            and no_received_at.this == at_or_after.this
            and isinstance(no_received_at.expression, exp.Null)
            and isinstance(no_watermark, exp.Is)
            and isinstance(no_watermark.this, exp.Subquery)
            and isinstance(no_watermark.expression, exp.Null)
        ):
            continue
        if any(not c.table for c in select.find_all(exp.Column)):
            continue  # the branches project the relation's columns by their qualified names
        relation = from_.this
        alias = relation.alias_or_name
        cutoff = exp.Coalesce(
            this=at_or_after.expression.copy(),
            expressions=[exp.cast(exp.Literal.string("-infinity"), exp.DataType.build("TIMESTAMP"))],
        )
        received_at = at_or_after.this
        where.pop()
        # the columns the SELECT reads from the relation: a source table may have dozens
        names = sorted({c.name for c in select.find_all(exp.Column) if c.table == alias} | {received_at.name})
        columns = [exp.column(name, table=alias) for name in names]
        branches = [
            exp.select(*columns).from_(relation.copy()).where(exp.GTE(this=received_at.copy(), expression=cutoff)),
            exp.select(*columns).from_(relation.copy()).where(exp.Is(this=received_at.copy(), expression=exp.Null())),
        ]
        union = exp.union(*branches, distinct=False)
        select.set(
            "from_", exp.From(this=exp.Subquery(this=union, alias=exp.TableAlias(this=exp.to_identifier(alias))))
        )
    return tree


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
_CLICKHOUSE_SHIFTS = {exp.Lag: "lagInFrame", exp.Lead: "leadInFrame"}


def clickhouse_null_padded_shifts(tree: exp.Expression) -> exp.Expression:
    for window in list(tree.find_all(exp.Window)):
        shift = window.this
        name = _CLICKHOUSE_SHIFTS.get(type(shift))
        if name is None:
            continue
        args: list[exp.Expression] = [exp.Anonymous(this="toNullable", expressions=[shift.this.copy()])]
        if shift.args.get("offset") is not None:
            args.append(shift.args["offset"].copy())
        window.set("this", exp.Anonymous(this=name, expressions=args))
        window.set(
            "spec",
            exp.WindowSpec(
                kind="ROWS", start="UNBOUNDED", start_side="PRECEDING", end="UNBOUNDED", end_side="FOLLOWING"
            ),
        )
    return tree


def clickhouse_join_use_nulls(tree: exp.Expression) -> exp.Expression:
    """ClickHouse fills the missing side of a LEFT JOIN with the column type's
    default ('' for String) instead of NULL, which breaks the `d.id IS NULL`
    anti-joins and COALESCE over unmatched rows. join_use_nulls = 1 restores
    SQL's NULLs. In the query's trailing SETTINGS it applies to the whole query,
    CTEs and every UNION branch included, and keeps `render` output correct
    when pasted into any client. Stages without a LEFT JOIN do without it."""
    if not any(join.side == "LEFT" for join in tree.find_all(exp.Join)):
        return tree
    last = tree
    while isinstance(last, exp.SetOperation):
        last = last.expression
    setting = exp.EQ(this=exp.column("join_use_nulls"), expression=exp.Literal.number(1))
    last.set("settings", [*(last.args.get("settings") or []), setting])
    return tree


# MergeTree tables need a sorting key. Each table is sorted by what a reader
# looks up: a visitor's events in time, a session's steps, an alias. Tables
# not listed here (and staging copies are matched by their stage's name) get
# ORDER BY tuple(): no key, rows in insertion order.
CLICKHOUSE_ORDER_BY: dict[str, tuple[str, ...]] = {
    "jsql_events": ("id",),  # the run's events, one row per id (the incremental build's state)
    "dbt_aliases_mapping": ("alias",),
    "dbt_mapped_tracks": ("dbt_visitor_id", "timestamp", "event_id"),
    "dbt_session_tracks": ("dbt_visitor_id", "session_start_at"),
    "dbt_track_facts": ("dbt_visitor_id", "timestamp", "event_id"),
    "dbt_tracks_flow": ("session_id", "track_sequence_number"),
    "dbt_session_track_facts": ("session_id",),
    "dbt_session_duration": ("dbt_visitor_id", "session_id"),
    "dbt_user_session_facts": ("dbt_visitor_id",),
}


def clickhouse_table_properties(table: exp.Table) -> list[exp.Expression]:
    """ENGINE = MergeTree with the table's sorting key. The key columns carry the
    source's Nullable types (and NULLs where the source has them), which
    MergeTree accepts only with allow_nullable_key = 1."""
    keys = CLICKHOUSE_ORDER_BY.get(table.name.lower().split("__", 1)[0], ())
    key: exp.Expression
    if not keys:
        key = exp.Anonymous(this="tuple", expressions=[])
    elif len(keys) == 1:  # a one-element tuple would read back as parentheses
        key = exp.column(keys[0])
    else:
        key = exp.Tuple(expressions=[exp.column(k) for k in keys])
    properties: list[exp.Expression] = [
        exp.EngineProperty(this=exp.to_identifier("MergeTree")),
        exp.Order(expressions=[exp.Ordered(this=key, nulls_first=False)]),
    ]
    if keys:
        properties.append(
            exp.SettingsProperty(
                expressions=[exp.EQ(this=exp.column("allow_nullable_key"), expression=exp.Literal.number(1))]
            )
        )
    return properties


@dataclass(frozen=True)
class Dialect:
    """One target. `sqlglot_name` is what sqlglot calls it; the rest is how it differs."""

    name: str
    sqlglot_name: str
    epoch_us: Callable[[exp.Expression], exp.Expression] | None
    create_or_replace: bool = True  # else DROP TABLE IF EXISTS, then CREATE TABLE AS
    table_format: str | None = None  # e.g. Spark's USING PARQUET
    # DDL inside BEGIN ... COMMIT is all-or-nothing: `render` wraps its script in one transaction
    transactional_ddl: bool = False
    # timestamps can be 'infinity'/'-infinity' (and isfinite() exists); elsewhere finite_timestamps_only applies
    infinite_timestamps: bool = False
    # True where tables take DELETE and INSERT of single rows, so an incremental
    # script can update them in place (Spark's Parquet tables and ClickHouse's
    # MergeTree cannot; Trino and Athena depend on the connector or table format).
    row_level_dml: bool = True
    extra_transforms: tuple[Transform, ...] = field(default=())
    # properties of each created table (ClickHouse's ENGINE and ORDER BY), from its name
    table_properties: Callable[[exp.Table], list[exp.Expression]] | None = None
    # (catalog, schema) of the session's temporary tables, where an incremental run's work tables go: they
    # are never written to the database file and vanish with the connection. None: the target schema.
    temporary_schema: tuple[str, str] | None = None

    @property
    def transforms(self) -> tuple[Transform, ...]:
        epoch = (rewrite_epoch_us(self.epoch_us),) if self.epoch_us else ()
        finite = () if self.infinite_timestamps else (finite_timestamps_only,)
        return (*epoch, unquote_identifiers, *finite, *self.extra_transforms)

    def transpile(self, tree: exp.Expression) -> exp.Expression:
        for transform in self.transforms:
            tree = transform(tree)
        return tree

    def generate(self, tree: exp.Expression, pretty: bool = True) -> str:
        return tree.sql(dialect=self.sqlglot_name, pretty=pretty, unsupported_level=sqlglot.ErrorLevel.RAISE)

    def work_table(self, name: str, schema: str) -> exp.Table:
        """Where an incremental run keeps a work table (dropped at the end of the run)."""
        if self.temporary_schema:
            catalog, db = self.temporary_schema
            return exp.table_(name, db=db, catalog=catalog)
        return exp.table_(name, db=schema)

    def create_table_as(self, table: exp.Table, select: exp.Expression) -> list[exp.Expression]:
        """Statements that (re)create `table` from `select`."""
        props: list[exp.Expression] = []
        if self.temporary_schema and (table.catalog, table.db) == self.temporary_schema:
            props.append(exp.TemporaryProperty())
        if self.table_format:
            props.append(exp.FileFormatProperty(this=exp.Var(this=self.table_format)))
        if self.table_properties:
            props.extend(self.table_properties(table))
        properties = exp.Properties(expressions=props) if props else None
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
        Dialect(
            "duckdb",
            "duckdb",
            epoch_us=None,
            transactional_ddl=True,
            infinite_timestamps=True,
            extra_transforms=(
                duckdb_rescan_filtered_ctes,
                duckdb_rank_repeated_ids_only,
                duckdb_prunable_received_window,
                duckdb_partition_totals_by_hash,
            ),
            # a work table in the database file costs its compression and a write; at 10M events an
            # incremental run spent 0.8 s of 6 s writing and reading them back (benchmarks/incremental.md)
            temporary_schema=("temp", "main"),
        ),
        Dialect(
            "postgres",
            "postgres",
            _parsed("CAST(EXTRACT(EPOCH FROM __ts__) * 1000000 AS BIGINT)", "postgres"),
            create_or_replace=False,
            transactional_ddl=True,
            infinite_timestamps=True,
            extra_transforms=(postgres_binary_collation,),
        ),
        Dialect(
            "redshift",
            "redshift",
            _redshift_epoch_us,
            create_or_replace=False,
            transactional_ddl=True,
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
            extra_transforms=(bigquery_plain_window_order, delete_using_as_exists),
        ),
        # Spark's session catalog keeps Parquet tables, which cannot be REPLACEd.
        Dialect(
            "spark",
            "spark",
            _SPARK_EPOCH,
            create_or_replace=False,
            table_format="PARQUET",
            row_level_dml=False,
        ),
        Dialect("databricks", "databricks", _SPARK_EPOCH, extra_transforms=(delete_using_as_exists,)),
        Dialect(
            "clickhouse",
            "clickhouse",
            # toDateTime64 reads DateTime, DateTime64 of any precision and zone,
            # and Nullable ones, as the same instant; a column without a zone
            # holds the instant ClickHouse parsed it as (UTC on a UTC server).
            _parsed("toUnixTimestamp64Micro(toDateTime64(__ts__, 6, 'UTC'))", "clickhouse"),
            # CREATE OR REPLACE is one atomic swap on Atomic databases (the default engine)
            extra_transforms=(clickhouse_null_padded_shifts, clickhouse_join_use_nulls),
            table_properties=clickhouse_table_properties,
            row_level_dml=False,
        ),
        Dialect("trino", "trino", _TRINO_EPOCH, create_or_replace=False, row_level_dml=False),
        Dialect("athena", "athena", _TRINO_EPOCH, create_or_replace=False, row_level_dml=False),
    )
}

ALIASES = {
    "postgresql": "postgres",
    "pg": "postgres",
    "bq": "bigquery",
    "sf": "snowflake",
    "presto": "trino",
    "ch": "clickhouse",
    "chdb": "clickhouse",
}


def get_dialect(name: str) -> Dialect:
    key = (name or "").strip().lower()
    key = ALIASES.get(key, key)
    if key in DIALECTS:
        return DIALECTS[key]
    raise ConfigError(
        f"Unknown dialect {name!r}.{did_you_mean(key, [*DIALECTS, *ALIASES])} Supported: {', '.join(DIALECTS)}."
    )
