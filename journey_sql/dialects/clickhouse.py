"""ClickHouse: the transforms its SQL needs, and the MergeTree properties of each table."""

from __future__ import annotations

from sqlglot import exp

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
