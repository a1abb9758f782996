"""Compile once, execute a plan.

`compile_plan` turns settings, a dialect and the resolved source into a
`Plan`: the ordered steps, each with the table it writes, its SELECT (parsed
and already transformed for the dialect) and the statements that create or
replace the table. `render` prints a plan; `apply`, `--dry-run` and
`--explain` execute or inspect the same object, so no stage is rendered twice.

Where the engine builds beside the live tables (no transactional DDL), the
staging names are a property of the plan: `plan.with_suffix(...)` points every
step's table, and every read of another step's table, at the suffixed name.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from journey_sql import __version__
from journey_sql.compile.templates import Relations, check_names, create_schema_sql, source_stats_select, stage_select
from journey_sql.core.errors import JourneyError
from journey_sql.core.stages import EVENTS, PLAN_STAGES, STATE
from journey_sql.dialects.dialect import Dialect
from journey_sql.settings.options import Settings

# Where engines without transactional DDL build a table beside the live one, to swap it in.
STAGING_SUFFIX = "__jsql_build"


@dataclass(frozen=True)
class Step:
    name: str  # the table's name without a suffix, e.g. dbt_mapped_tracks
    # Full builds: "events" (the one read of the source), "stage" (a journey table), "state" (jsql_state).
    # Incremental builds (incremental.py) add "work" (a work table, dropped at the end), "update" (rows
    # replaced in place), "build" (a table built anew beside the live one, to swap in) and "invalidate"
    # (the state dropped while tables change one statement at a time).
    kind: str
    summary: str
    relation: exp.Table  # where the step writes
    select: exp.Expression  # what it writes, transformed for the plan's dialect
    statements: tuple[str, ...]  # the SQL that (re)creates `relation` from `select`, without terminators
    updates: exp.Table | None = None  # "update" steps: the table whose rows the statements replace


@dataclass(frozen=True)
class Plan:
    settings: Settings
    dialect: Dialect
    steps: tuple[Step, ...]
    source_stats: exp.Expression  # the query whose one row apply reports about the source (reads the events)
    suffix: str = ""
    mode: str = "full"  # or "incremental" (incremental.compile_incremental_plan)
    # incremental plans: how many rows of the last build are in this run's window (read before the run)
    window_count: exp.Expression | None = None

    @property
    def tables(self) -> dict[str, exp.Table]:
        return {s.name: s.relation for s in self.steps}

    def source_stats_sql(self) -> str:
        return self.dialect.generate(self.source_stats)

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)

    def with_suffix(self, suffix: str) -> Plan:
        """The same plan writing to `<name><suffix>` tables, each step reading its inputs there too."""
        if suffix == self.suffix:
            return self
        renamed = {_key(s.relation): _suffixed(s.relation, suffix, self.suffix) for s in self.steps}

        def rename(node: exp.Expression) -> exp.Expression:
            if isinstance(node, exp.Table) and _key(node) in renamed:
                new = renamed[_key(node)].copy()
                new.set("alias", node.args.get("alias"))
                return new
            return node

        steps = []
        for step in self.steps:
            relation = renamed[_key(step.relation)]
            select = step.select.copy().transform(rename)
            steps.append(
                dataclasses.replace(
                    step,
                    relation=relation,
                    select=select,
                    statements=create_statements(step.name, self.dialect, relation, select),
                )
            )
        stats = self.source_stats.copy().transform(rename)
        return dataclasses.replace(self, steps=tuple(steps), source_stats=stats, suffix=suffix)

    def script(self, stage_names: list[str] | None = None) -> str:
        """A script for a warehouse console that runs as pasted on a fresh warehouse.

        It creates the output schema first; where DDL is transactional it is one
        transaction, so a paste builds every table or none, as `apply` does.
        """
        settings, dialect = self.settings, self.dialect
        # Names are validated (letters, digits, underscores); a --source-path may
        # hold anything, so control characters are masked and nothing in the
        # comment can end the line and become SQL.
        label = "".join("?" if ord(c) < 32 or ord(c) == 127 else c for c in settings.sources.label)
        header = (
            f"-- journey-sql {__version__} for {dialect.name}: {label} -> "
            f"{settings.schema}, session timeout {settings.session_timeout:g} min, depth {settings.depth}"
            + (f", counting {', '.join(settings.count_columns)}" if settings.count_events else "")
            + "\n"
        )
        assert "\n" not in header[:-1] and "\r" not in header
        if self.mode == "incremental":
            header += (
                f"-- incremental: rebuilds the visitors with rows received since {settings.schema}.jsql_state's "
                f"watermark minus {settings.lookback_seconds} s; needs a full build (journey-sql apply) first\n"
            )
        parts = [header]
        if dialect.transactional_ddl:
            parts.append("BEGIN;\n")
        parts.append(f"\n{create_schema_sql(settings.schema, dialect)};\n")
        for step in self.steps:
            if stage_names is not None and step.name not in stage_names:
                continue
            parts.append(f"\n-- {step.name}: {step.summary}\n")
            parts.extend(f"{sql};\n" for sql in step.statements)
        work = [s.relation for s in self.steps if s.kind == "work"]
        if work:
            parts.append("\n-- drop the work tables\n")
            parts.extend(f"{dialect.generate(exp.Drop(tables=[t.copy()], kind='TABLE', exists=True))};\n" for t in work)
        if dialect.transactional_ddl:
            parts.append("\nCOMMIT;\n")
        return "".join(parts)


def _key(table: exp.Table) -> tuple[str, str]:
    return (table.db.lower(), table.name.lower())


def _suffixed(table: exp.Table, suffix: str, old_suffix: str) -> exp.Table:
    name = table.name[: len(table.name) - len(old_suffix)] if old_suffix else table.name
    new = table.copy()
    new.set("this", exp.to_identifier(name + suffix, quoted=table.this.quoted if table.this else False))
    return new


def create_statements(name: str, dialect: Dialect, relation: exp.Table, select: exp.Expression) -> tuple[str, ...]:
    try:
        return tuple(dialect.generate(s) for s in dialect.create_table_as(relation, select.copy()))
    except sqlglot.errors.UnsupportedError as err:
        raise JourneyError(
            f"Stage {name} uses SQL that sqlglot cannot express in {dialect.name}: {err}. "
            "Please report this with the dialect name."
        ) from err


def compile_plan(settings: Settings, dialect: Dialect, real_source: exp.Expression | None = None) -> Plan:
    """Every step of a run, rendered, parsed and transformed once.

    `real_source` is what the steps read in place of the configured source when
    the engine would not find it by its plain name (executor.source_relations).
    """
    check_names(settings, dialect)
    relations = dataclasses.replace(Relations.for_settings(settings), real_source=real_source)
    steps = []
    for stage in PLAN_STAGES:
        select = stage_select(stage, settings, dialect, relations)
        table = relations.tables[stage.name]
        steps.append(
            Step(
                name=stage.name,
                kind="events" if stage is EVENTS else "state" if stage is STATE else "stage",
                summary=stage.summary,
                relation=table,
                select=select,
                statements=create_statements(stage.name, dialect, table, select),
            )
        )
    return Plan(
        settings=settings,
        dialect=dialect,
        steps=tuple(steps),
        source_stats=source_stats_select(dialect, relations),
    )
