"""The dialects: one `Dialect` entry per target, holding how it differs, as data.

The stage templates are written once, in DuckDB's dialect (the canonical one:
it runs as written on the embedded default). Rendering for another warehouse
parses that SQL, applies the small tree transforms its entry lists
(journey_sql.dialects.transforms), and lets sqlglot generate the target with
unsupported constructs raising. A new quirk is a new transform and a word in
the table below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp

from journey_sql.core.errors import ConfigError, did_you_mean
from journey_sql.dialects.clickhouse import (
    clickhouse_join_use_nulls,
    clickhouse_null_padded_shifts,
    clickhouse_table_properties,
)
from journey_sql.dialects.duckdb_plans import (
    duckdb_partition_totals_by_hash,
    duckdb_prunable_received_window,
    duckdb_rank_repeated_ids_only,
    duckdb_rescan_filtered_ctes,
)
from journey_sql.dialects.transforms import (
    Transform,
    bigquery_plain_window_order,
    delete_using_as_exists,
    epoch_builder,
    finite_timestamps_only,
    postgres_binary_collation,
    redshift_epoch_us,
    redshift_sized_varchar,
    rewrite_epoch_us,
    unquote_identifiers,
)

CANONICAL = "duckdb"  # the templates' dialect


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


_SPARK_EPOCH = epoch_builder("UNIX_MICROS(__ts__)", "spark")
_TRINO_EPOCH = epoch_builder("CAST(ROUND(TO_UNIXTIME(__ts__) * 1000000) AS BIGINT)", "trino")

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
            epoch_builder("CAST(EXTRACT(EPOCH FROM __ts__) * 1000000 AS BIGINT)", "postgres"),
            create_or_replace=False,
            transactional_ddl=True,
            infinite_timestamps=True,
            extra_transforms=(postgres_binary_collation,),
        ),
        Dialect(
            "redshift",
            "redshift",
            redshift_epoch_us,
            create_or_replace=False,
            transactional_ddl=True,
            extra_transforms=(redshift_sized_varchar,),
        ),
        Dialect(
            "snowflake",
            "snowflake",
            epoch_builder("DATE_PART(EPOCH_MICROSECOND, __ts__)", "snowflake"),
        ),
        Dialect(
            "bigquery",
            "bigquery",
            # the CAST is a no-op on TIMESTAMP and reads a DATETIME column as UTC:
            # BigQuery has no implicit DATETIME -> TIMESTAMP conversion
            epoch_builder("UNIX_MICROS(CAST(__ts__ AS TIMESTAMP))", "bigquery"),
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
            epoch_builder("toUnixTimestamp64Micro(toDateTime64(__ts__, 6, 'UTC'))", "clickhouse"),
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
