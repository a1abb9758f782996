"""How a plan's tables are put in place: all in one transaction, or built beside the live tables and
swapped in, or (incremental builds without transactional DDL) updated with the state dropped first.

Each leaves either the new tables or the old ones, and says which when interrupted."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from sqlglot import exp

from journey_sql.compile.incremental import CHANGED_VISITORS, NEW_ROWS
from journey_sql.compile.plan import STAGING_SUFFIX, Plan
from journey_sql.compile.templates import Relations
from journey_sql.core.errors import InterruptedRun, JourneyError
from journey_sql.core.stages import STATE
from journey_sql.engines.base import Engine
from journey_sql.run.decide import Decision
from journey_sql.run.results import Echo, RunReport
from journey_sql.run.steps import build_steps, guarded_step, source_stats
from journey_sql.settings.options import Settings


@dataclass
class Prepared:
    plan: Plan
    decision: Decision
    known_in_window: int = 0


def finish_incremental(engine: Engine, prepared: Prepared, report: RunReport) -> None:
    """The incremental run's counts: the whole source's (from the events table), rows read, visitors rebuilt."""
    decision = prepared.decision
    report.source = guarded_step(engine, "Counting the source rows", source_stats, engine, prepared.plan)
    rows = {r.stage: r.rows for r in report.stages}
    report.new_rows = rows[NEW_ROWS.name]
    report.visitors_rebuilt = rows[CHANGED_VISITORS.name]
    report.window_rows = prepared.known_in_window + report.new_rows
    if decision.source_rows is not None and decision.rows_processed is not None:
        report.missed_rows = max(0, decision.source_rows - decision.rows_processed - report.new_rows)


def run_in_transaction(
    engine: Engine,
    settings: Settings,
    prepare: Callable[[], Prepared],
    report: RunReport,
    echo: Echo,
    explain: Echo | None,
    begun: bool = False,
) -> None:
    if not begun:
        engine.begin()
    try:
        # Inside the transaction: a second run into the same schema is told so
        # at once, and the schema, like the tables, exists only if all went well.
        if not guarded_step(engine, f"Locking schema {settings.schema}", engine.lock_schema, settings.schema):
            raise JourneyError(
                f"Another journey-sql run is building {settings.schema} on {engine.describe()}; wait for it to "
                "finish and run again. (A run that was killed holds the lock until the server notices its "
                "connection is gone, at the latest when the query it was running ends.) No tables were changed."
            )
        guarded_step(engine, f"Creating schema {settings.schema}", engine.create_schema, settings.schema)
        prepared = prepare()
        build_steps(engine, prepared.plan, report, echo, explain)
        for step in prepared.plan.steps:
            if step.kind == "work":
                guarded_step(engine, f"Dropping the work table {step.relation.name}", engine.drop_table, step.relation)
        if prepared.decision.incremental:
            finish_incremental(engine, prepared, report)
        if not begun:
            engine.commit()
    except KeyboardInterrupt:
        with contextlib.suppress(Exception):
            engine.rollback()
        raise InterruptedRun("Interrupted (Ctrl-C): the run was rolled back, no tables were changed.") from None
    except BaseException:
        engine.rollback()
        raise


def run_with_staging(engine: Engine, final: Plan, report: RunReport, echo: Echo, explain: Echo | None) -> None:
    settings = final.settings
    staging = final.with_suffix(STAGING_SUFFIX)
    replaced = 0
    try:
        build_steps(engine, staging, report, echo, explain)
        # No state while the tables are swapped one by one: if this stops
        # midway, the next run is a full refresh. The state goes in last.
        engine.drop_table(final.step(STATE.name).relation)
        for step in final.steps:
            engine.replace_table(step.relation, staging.step(step.name).relation)
            replaced += 1
    except KeyboardInterrupt:
        if replaced == 0:
            message = (
                "Interrupted (Ctrl-C) while building: no tables were changed "
                f"(the {STAGING_SUFFIX} staging tables are dropped)."
            )
        else:
            message = (
                f"Interrupted (Ctrl-C) while putting the new tables in place: {replaced} of {len(final.steps)} "
                f"tables in {settings.schema} are new, the others are from the previous run; the build state "
                "was removed first, so the next apply rebuilds everything."
            )
        raise InterruptedRun(message) from None
    finally:
        for step in staging.steps:
            _quietly(engine.drop_table, step.relation)


def run_incremental(engine: Engine, plan: Plan, report: RunReport, echo: Echo, explain: Echo | None) -> None:
    """An incremental plan on an engine without transactional DDL (in place, or built beside and swapped)."""
    settings = plan.settings
    final = Relations.for_settings(settings).tables
    swapped = [s for s in plan.steps if s.kind in ("build", "state") and plan.suffix]
    replaced = 0
    try:
        build_steps(engine, plan, report, echo, explain)
        if swapped:
            engine.drop_table(final[STATE.name])
            for step in swapped:  # the state is the last step
                engine.replace_table(final[step.name], step.relation)
                replaced += 1
    except KeyboardInterrupt:
        raise InterruptedRun(_incremental_interrupted(engine, plan, report, len(swapped), replaced)) from None
    finally:
        for step in plan.steps:
            if step.kind == "work" or (plan.suffix and step.kind in ("build", "state")):
                _quietly(engine.drop_table, step.relation)


def _incremental_interrupted(engine: Engine, plan: Plan, report: RunReport, swaps: int, replaced: int) -> str:
    """What a Ctrl-C left behind on an engine without transactional DDL, read from where the run got to.

    The state is dropped before the first table changes and written after the
    last, so while it exists the tables are consistent: untouched, or (when the
    run got past its table updates or swaps) fully updated."""
    schema = plan.settings.schema
    try:
        state_kept = STATE.name in {t.lower() for t in engine.tables(schema)}
    except Exception:  # the connection may not answer after Ctrl-C: assume the worst
        state_kept = False
    done = [s for s in plan.steps if s.kind != "invalidate"][: len(report.stages)]
    updated = any(s.kind == "update" for s in done)
    if state_kept and (replaced == swaps > 0 or (not swaps and updated)):
        return (
            "Interrupted (Ctrl-C) as the incremental build finished: every table in "
            f"{schema} and its build state are up to date."
        )
    if state_kept:
        return "Interrupted (Ctrl-C) during an incremental build, before any table changed: no tables were changed."
    return (
        "Interrupted (Ctrl-C) during an incremental build: "
        + (
            f"{replaced} of {swaps} tables in {schema} were replaced. "
            if swaps
            else "some tables may be half updated. "
        )
        + "The build state was dropped first, so the next apply rebuilds everything (a full refresh)."
    )


def _quietly(action: Callable[[exp.Table], None], table: exp.Table) -> None:
    try:
        action(table)
    except Exception:  # cleanup must not hide the error that got us here
        pass
