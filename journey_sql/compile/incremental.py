"""Incremental builds: rebuild only the visitors whose rows the new source rows change, from the session
their first change may join on.

`decide` reads the state the last build left (`<schema>.jsql_state`) and says
whether this run may build incrementally, and why or why not.
`compile_incremental_plan` compiles the incremental run into the same `Plan`
that full builds use, from the same stage templates: each stage is rendered
again with its inputs rebound to small work tables that hold only the visitors
to rebuild (their events from the rebuild point on, and the earlier sessions'
events the stages need to number sessions and measure idle times from there:
templates/jsql_changed_visitors.sql.j2), so no stage's logic exists twice. The
meaning and what the lookback guarantees are in docs/semantics.md, section 10.

Where the engine changes single rows (`row_level_dml`), a table is updated in
place (DELETE the visitors' rows from the rebuild point on, INSERT the rebuilt ones); elsewhere the new
table (the untouched rows plus the rebuilt ones) is built beside it and swapped
in, as full builds are. Work tables end in WORK_SUFFIX and are dropped at the end.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import sqlglot
from sqlglot import exp

from journey_sql.compile.plan import STAGING_SUFFIX, Plan, Step, create_statements
from journey_sql.compile.templates import Relations, check_names, source_stats_select, stage_select
from journey_sql.core.stages import EVENTS, STAGES, STATE, Stage, stage_columns
from journey_sql.dialects.dialect import CANONICAL, Dialect
from journey_sql.settings.options import Settings

WORK_SUFFIX = "__jsql_delta"

# The work steps' templates, in run order, with the name of the table each writes (+ WORK_SUFFIX).
NEW_ROWS = Stage(
    "jsql_new_rows", "source rows received since the watermark minus the lookback, not processed before", ()
)
EVENTS_DELTA = Stage("jsql_events_delta", "every delivery of the ids with new rows, ranked again", ())
CHANGED_ALIASES = Stage("jsql_changed_aliases", "aliases whose visitor may change", ())
READ_ALIASES = Stage("jsql_read_aliases", "those aliases and the other aliases of their visitors", ())
ALIAS_EVENTS = Stage("jsql_alias_events", "the events carrying those aliases", ())
VISITOR_CHANGES = Stage("jsql_visitor_changes", "visitors to rebuild, and where their events first change", ())
CHANGED_VISITORS = Stage("jsql_changed_visitors", "visitors to rebuild, and from where", ())
STALE_SESSIONS = Stage("jsql_stale_sessions", "their sessions as the last build numbered them", ())
VISITOR_ALIASES = Stage("jsql_visitor_aliases", "the aliases of the visitors to rebuild", ())
VISITOR_EVENTS = Stage("jsql_visitor_events", "the events the visitors are rebuilt from", ())
WORK_STAGES = (
    NEW_ROWS,
    CHANGED_ALIASES,
    READ_ALIASES,
    ALIAS_EVENTS,
    VISITOR_CHANGES,
    CHANGED_VISITORS,
    STALE_SESSIONS,
    VISITOR_ALIASES,
    VISITOR_EVENTS,
)
# Not a step: the rows of the last build in this run's window, counted before the run (templates/_window_count.sql.j2)
WINDOW_COUNT = Stage("_window_count", "rows of the last build in this run's window", ())

MAPPING = STAGES[0]  # dbt_aliases_mapping

# What identifies the rows of a table an incremental run replaces: (column, work step holding the keys, its column)
_BY_SESSION = ("session_id", STALE_SESSIONS.name, "session_id")
_REPLACED_BY: dict[str, tuple[str, str, str]] = {
    EVENTS.name: ("id", EVENTS_DELTA.name, "id"),
    MAPPING.name: ("alias", CHANGED_ALIASES.name, "alias"),
    "dbt_session_track_facts": _BY_SESSION,
    "dbt_session_duration": _BY_SESSION,
}
_BY_VISITOR = ("dbt_visitor_id", CHANGED_VISITORS.name, "dbt_visitor_id")
# A visitor is rebuilt from a point in time (jsql_changed_visitors.rebuild_from; NULL: whole), reading the
# sessions before it as context (from context_from). These tables' rows are replaced from the bound on, by the
# column placing a row in time: dbt_session_tracks' from context_from, as the session just before the point
# gets another next_session_start_at. The work tables of the first two also hold the context's rows, which
# the update leaves out; dbt_track_facts' holds none, so the stages reading it need no such care.
_FROM_TIME = {
    "dbt_mapped_tracks": ("timestamp", "rebuild_from"),
    "dbt_session_tracks": ("session_start_at", "context_from"),
    "dbt_track_facts": ("timestamp", "rebuild_from"),
    "dbt_tracks_flow": ("timestamp", "rebuild_from"),
}
FACTS = "dbt_track_facts"


def compile_incremental_plan(
    settings: Settings, dialect: Dialect, real_source: exp.Expression | None = None, in_place: bool = True
) -> Plan:
    """The incremental run as a plan: work tables, then each table updated, then the state.

    `in_place`: update tables with DELETE and INSERT (engines with row-level
    DML); otherwise every table is built anew under STAGING_SUFFIX for the
    executor to swap in.
    """
    check_names(settings, dialect)
    base = dataclasses.replace(Relations.for_settings(settings), real_source=real_source)
    final = base.tables
    schema = settings.schema

    def work(name: str) -> exp.Table:
        return dialect.work_table(name + WORK_SUFFIX, schema)

    def updated(name: str) -> exp.Table:
        """Where a table's new contents are once its update step has run."""
        return final[name] if in_place else exp.table_(name + STAGING_SUFFIX, db=schema)

    tables = dict(final)
    for stage in WORK_STAGES:
        tables[stage.name] = work(stage.name)
    tables[EVENTS_DELTA.name] = work(EVENTS.name)
    tables["dbt_aliases_mapping_delta"] = work(MAPPING.name)
    tables["jsql_events_new"] = updated(EVENTS.name)
    tables["dbt_aliases_mapping_new"] = updated(MAPPING.name)
    relations = dataclasses.replace(base, tables=tables)

    steps: list[Step] = []

    def add_work(stage: Stage, target: exp.Table, rel: Relations = relations, **kwargs: Any) -> None:
        select = stage_select(stage, settings, dialect, rel, **kwargs)
        steps.append(
            Step(
                stage.name,
                "work",
                stage.summary,
                target,
                select,
                create_statements(stage.name, dialect, target, select),
            )
        )

    def add_update(name: str, columns: tuple[str, ...]) -> None:
        steps.append(_update_step(name, columns, dialect, final[name], work(name), updated(name), tables, in_place))

    add_work(NEW_ROWS, tables[NEW_ROWS.name])
    add_work(EVENTS_DELTA, tables[EVENTS_DELTA.name])
    add_work(CHANGED_ALIASES, tables[CHANGED_ALIASES.name])
    add_work(READ_ALIASES, tables[READ_ALIASES.name])
    if in_place and not dialect.transactional_ddl:
        # From here on the tables change one statement at a time: without a
        # state, a run that stops midway is followed by a full refresh.
        state = final[STATE.name]
        drop = exp.Drop(tables=[state.copy()], kind="TABLE", exists=True)
        steps.append(
            Step(
                STATE.name,
                "invalidate",
                "the state is dropped until the tables are consistent again",
                state,
                exp.select("1"),
                (dialect.generate(drop),),
            )
        )
    add_update(EVENTS.name, EVENTS.columns)
    add_work(ALIAS_EVENTS, tables[ALIAS_EVENTS.name])
    # the mapping of the changed aliases: the mapping stage over the events carrying them
    alias_rel = dataclasses.replace(relations, tables={**tables, EVENTS.name: tables[ALIAS_EVENTS.name]})
    add_work(
        MAPPING, tables["dbt_aliases_mapping_delta"], alias_rel, wrap=_only_aliases_in(tables[CHANGED_ALIASES.name])
    )
    add_work(VISITOR_CHANGES, tables[VISITOR_CHANGES.name])
    add_work(CHANGED_VISITORS, tables[CHANGED_VISITORS.name])
    add_work(STALE_SESSIONS, tables[STALE_SESSIONS.name])
    add_update(MAPPING.name, MAPPING.columns)
    add_work(VISITOR_ALIASES, tables[VISITOR_ALIASES.name])
    add_work(VISITOR_EVENTS, tables[VISITOR_EVENTS.name])
    # every other stage, for the visitors to rebuild only: its inputs are the work tables
    delta_tables = {
        **tables,
        EVENTS.name: tables[VISITOR_EVENTS.name],
        MAPPING.name: tables[VISITOR_ALIASES.name],
        **{stage.name: work(stage.name) for stage in STAGES[1:]},
    }
    delta_rel = dataclasses.replace(relations, tables=delta_tables)
    visitors = tables[CHANGED_VISITORS.name]
    for stage in STAGES[1:]:
        columns = stage_columns(stage, settings.depth, settings.count_columns)
        wrap = _from_rebuild_point(columns, _FROM_TIME[FACTS], visitors) if stage.name == FACTS else None
        add_work(stage, work(stage.name), delta_rel, wrap=wrap)
    for stage in STAGES[1:]:
        add_update(stage.name, stage_columns(stage, settings.depth, settings.count_columns))
    state_rel = dataclasses.replace(relations, tables={**tables, EVENTS.name: updated(EVENTS.name)})
    state_select = stage_select(STATE, settings, dialect, state_rel)
    state_table = updated(STATE.name)
    steps.append(
        Step(
            STATE.name,
            "state",
            STATE.summary,
            state_table,
            state_select,
            create_statements(STATE.name, dialect, state_table, state_select),
        )
    )
    return Plan(
        settings=settings,
        dialect=dialect,
        steps=tuple(steps),
        source_stats=source_stats_select(dialect, dataclasses.replace(base, tables={**final})),
        mode="incremental",
        window_count=stage_select(WINDOW_COUNT, settings, dialect, base),
        suffix="" if in_place else STAGING_SUFFIX,
    )


def _only_aliases_in(aliases: exp.Table) -> Callable[[exp.Expression], exp.Expression]:
    def wrap(tree: exp.Expression) -> exp.Expression:
        inside = _parse(f"SELECT a.alias FROM {aliases.sql(CANONICAL)} AS a")
        return (
            exp.select("m.alias", "m.dbt_visitor_id")
            .from_(exp.Subquery(this=tree, alias=exp.TableAlias(this=exp.to_identifier("m"))))
            .where(exp.In(this=exp.column("alias", table="m"), query=exp.Subquery(this=inside)))
        )

    return wrap


def _from_rebuild_point(
    columns: tuple[str, ...], time: tuple[str, str], visitors: exp.Table
) -> Callable[[exp.Expression], exp.Expression]:
    """Keep a stage's rows from each visitor's rebuild point on (all of a visitor rebuilt whole)."""

    def wrap(tree: exp.Expression) -> exp.Expression:
        select = _parse(
            f"SELECT {', '.join(f'r.{c} AS {c}' for c in columns)} FROM jsql_stage AS r "
            + _rebuilt_part(visitors, "r", time)
        )
        stage = select.find(exp.Table)
        assert stage is not None and stage.name == "jsql_stage"
        stage.replace(exp.Subquery(this=tree, alias=exp.TableAlias(this=exp.to_identifier("r"))))
        return select

    return wrap


def _rebuilt_part(visitors: exp.Table, alias: str, time: tuple[str, str]) -> str:
    return (
        f"INNER JOIN {visitors.sql(CANONICAL)} AS v ON v.dbt_visitor_id = {alias}.dbt_visitor_id "
        f"WHERE {_from_bound(alias, time)}"
    )


def _from_bound(alias: str, time: tuple[str, str]) -> str:
    """Whether row `alias` is at or after its visitor's bound in jsql_changed_visitors `v` (NULL: all rows)."""
    column, bound = time
    return f"v.{bound} IS NULL OR {alias}.{column} >= v.{bound}"


def _update_step(
    name: str,
    columns: tuple[str, ...],
    dialect: Dialect,
    table: exp.Table,
    delta: exp.Table,
    target: exp.Table,
    tables: dict[str, exp.Table],
    in_place: bool,
) -> Step:
    """Replace the rows of `table` that the run rebuilt (a work step wrote them to `delta`): in place, or as
    a new table under `target`."""
    cols = ", ".join(columns)
    rebuilt = f"SELECT {', '.join(f'd.{c}' for c in columns)} FROM {delta.sql(CANONICAL)} AS d"
    summary = f"the rows of {name} for the visitors rebuilt"
    if name in _FROM_TIME:
        # the rows from each visitor's rebuild point on are replaced
        visitors, time = tables[CHANGED_VISITORS.name], _FROM_TIME[name]
        column, bound = time
        rebuilt += " " + _rebuilt_part(visitors, "d", time)
        delete = (
            f"USING {visitors.sql(CANONICAL)} AS v WHERE {table.name}.dbt_visitor_id = v.dbt_visitor_id "
            f"AND ({_from_bound(table.name, time)})"
        )
        kept = (
            f"LEFT JOIN {visitors.sql(CANONICAL)} AS v ON v.dbt_visitor_id = t.dbt_visitor_id "
            f"WHERE v.dbt_visitor_id IS NULL OR t.{column} < v.{bound}"
        )
    else:
        key, keys_step, key_column = _REPLACED_BY.get(name, _BY_VISITOR)
        keys = tables[keys_step].sql(CANONICAL)
        delete = f"WHERE {key} IN (SELECT k.{key_column} FROM {keys} AS k)"
        # Rows without an id are never rebuilt (they are only counted): keep them all.
        keep = f"t.{key} IS NULL OR " if name == EVENTS.name else ""
        kept = f"WHERE {keep}NOT t.{key} IN (SELECT k.{key_column} FROM {keys} AS k WHERE k.{key_column} IS NOT NULL)"
    if in_place:
        sql = [f"DELETE FROM {table.sql(CANONICAL)} {delete}", f"INSERT INTO {table.sql(CANONICAL)} ({cols}) {rebuilt}"]
        trees = [_parse(s) for s in sql]
        statements = tuple(dialect.generate(dialect.transpile(t)) for t in trees)
        inserted = dialect.transpile(_parse(rebuilt))
        return Step(name, "update", summary, delta, inserted, statements, updates=table)
    select = _parse(
        f"SELECT {', '.join(f't.{c}' for c in columns)} FROM {table.sql(CANONICAL)} AS t {kept} UNION ALL {rebuilt}"
    )
    select = dialect.transpile(select)
    return Step(name, "build", summary, target, select, create_statements(name, dialect, target, select))


def _parse(sql: str) -> exp.Expression:
    tree = sqlglot.parse_one(sql, read=CANONICAL)
    assert isinstance(tree, exp.Expression)
    return tree
