"""Run the stages against a connection, in order, leaving either the new tables or the old ones."""

from __future__ import annotations

from sqlglot import exp

from journey_sql.compile.incremental import compile_incremental_plan
from journey_sql.compile.plan import Plan, compile_plan
from journey_sql.compile.templates import Relations, check_names
from journey_sql.core.errors import JourneyError
from journey_sql.engines.base import Engine
from journey_sql.run.checks import check_source, real_source
from journey_sql.run.decide import decide
from journey_sql.run.results import Echo, ProgressLine, RunReport
from journey_sql.run.steps import guarded_step
from journey_sql.run.strategies import (
    Prepared,
    finish_incremental,
    run_in_transaction,
    run_incremental,
    run_with_staging,
)
from journey_sql.settings.options import Settings


def run_pipeline(
    engine: Engine,
    settings: Settings,
    echo: Echo = lambda _: None,
    explain: Echo | None = None,
    full_refresh: bool | str = False,
    begun: bool = False,
) -> RunReport:
    """Build every table, incrementally where the last build allows (incremental.decide).

    `full_refresh` may be the reason a caller rebuilds everything (demo: "the demo generated new sample data").
    `begun`: the caller has begun a transaction (engines with transactional DDL only) and commits it itself, so
    what it wrote before the run commits with the tables or not at all (demo: the generated source).

    On failure the previous tables are left exactly as they were; on engines
    without transactional DDL a run stopped while tables were being replaced
    leaves no state, so the next run is a full refresh."""
    check_names(settings, engine.dialect)
    targets = {t.sql().lower() for t in Relations.for_settings(settings).tables.values()}
    for table in settings.sources.tables:
        if table.path is None and table.label.lower() in targets:
            raise JourneyError(
                f"--schema {settings.schema} would overwrite the source table {table.label}; choose another schema."
            )
    guarded_step(engine, "Checking the source table", check_source, engine, settings)
    real = guarded_step(engine, "Looking up the source's real names", real_source, engine, settings)
    report = RunReport()
    if begun and not engine.transactional_ddl:
        raise ValueError(f"run_pipeline(begun=True) needs transactional DDL, which {engine.describe()} lacks")
    if engine.transactional_ddl:
        # deciding inside the transaction, after the schema lock: a second run is told to wait at once
        prepare = lambda: _prepare(engine, settings, real, full_refresh, report, echo)  # noqa: E731
        run_in_transaction(engine, settings, prepare, report, echo, explain, begun)
    else:
        prepared = _prepare(engine, settings, real, full_refresh, report, echo)
        guarded_step(engine, f"Creating schema {settings.schema}", engine.create_schema, settings.schema)
        if prepared.plan.mode == "incremental":
            run_incremental(engine, prepared.plan, report, echo, explain)
            finish_incremental(engine, prepared, report)
        else:
            run_with_staging(engine, prepared.plan, report, echo, explain)
    return report


def _prepare(
    engine: Engine,
    settings: Settings,
    real: exp.Expression | None,
    full_refresh: bool | str,
    report: RunReport,
    echo: Echo,
) -> Prepared:
    """Decide full or incremental (reading the last build's state) and compile the plan for it."""
    decision = guarded_step(engine, "Reading the last build's state", decide, engine, settings, full_refresh)
    report.mode, report.reason = ("incremental" if decision.incremental else "full"), decision.reason
    echo(ProgressLine(f"{report.mode} build: {decision.reason}", mode=report.mode))
    if not decision.incremental:
        return Prepared(compile_plan(settings, engine.dialect, real), decision)
    plan = compile_incremental_plan(settings, engine.dialect, real, in_place=engine.row_level_dml)
    known = guarded_step(engine, "Counting the rows the last build read", _known_in_window, engine, plan)
    return Prepared(plan, decision, known)


def _known_in_window(engine: Engine, plan: Plan) -> int:
    """Rows of the events table in this run's window, before the run (the rows read = these + the new ones)."""
    assert plan.window_count is not None  # incremental plans carry it
    return int(engine.query(engine.dialect.generate(plan.window_count))[0][0])


def dry_run_pipeline(
    engine: Engine, settings: Settings, full_refresh: bool = False
) -> tuple[str, list[tuple[str, int | None]]]:
    """The build apply would run ("full"/"incremental") and (step, bytes it would scan), building nothing.

    Steps are estimated against the current tables, so a refresh gets a number
    for every stage; a step whose inputs do not exist yet (a first run's
    stages, an incremental run's work tables) is None (unknown).
    """
    dry_run = getattr(engine, "dry_run", None)
    if dry_run is None:
        raise JourneyError(
            f"--dry-run needs an engine that estimates query cost (BigQuery); {engine.dialect.name} does not."
        )
    check_names(settings, engine.dialect)
    guarded_step(engine, "Checking the source table", check_source, engine, settings)
    decision = guarded_step(engine, "Reading the last build's state", decide, engine, settings, full_refresh)
    if decision.incremental:
        plan = compile_incremental_plan(settings, engine.dialect, in_place=engine.row_level_dml)
    else:
        plan = compile_plan(settings, engine.dialect)
    schema = settings.schema.lower()
    built = (
        {t.lower() for t in engine.tables(settings.schema)}
        if schema in (s.lower() for s in engine.schemas())
        else set()
    )
    estimates: list[tuple[str, int | None]] = []
    for step in plan.steps:
        inputs = {t.name.lower() for t in step.select.find_all(exp.Table) if t.db.lower() == schema}
        if step.kind == "invalidate":
            continue
        estimates.append((step.name, None if inputs - built else dry_run(engine.dialect.generate(step.select))))
    return plan.mode, estimates
