"""Run the stages against a connection, in order, leaving either the new tables or the old ones."""

from __future__ import annotations

import contextlib
import shlex
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from journey_sql.engines.base import Engine
from journey_sql.errors import InterruptedRun, JourneyError, SourceError, StageError, first_line
from journey_sql.incremental import CHANGED_VISITORS, NEW_ROWS, Decision, compile_incremental_plan, decide
from journey_sql.plan import STAGING_SUFFIX, Plan, Step, compile_plan
from journey_sql.render import Relations, check_names
from journey_sql.settings import Settings
from journey_sql.stages import SOURCE_COLUMNS, STATE


@dataclass
class StageResult:
    stage: str
    rows: int
    seconds: float


@dataclass
class SourceStats:
    rows: int  # rows in the source table
    rows_without_id: int  # cannot be deduplicated or ordered: left out
    distinct_ids: int
    # events (distinct ids) whose kept copy the stages leave out, by reason
    events_without_timestamp: int = 0  # NULL, 'infinity' or '-infinity'
    events_without_identity: int = 0  # neither user_id nor anonymous_id (and a usable timestamp)

    @property
    def duplicate_deliveries(self) -> int:
        return self.rows - self.rows_without_id - self.distinct_ids


@dataclass
class RunReport:
    # counted from the events table after the run (the whole source, also after an incremental run)
    source: SourceStats = field(default_factory=lambda: SourceStats(0, 0, 0))
    stages: list[StageResult] = field(default_factory=list)  # one per step: rows written (work tables too)
    mode: str = "full"  # or "incremental"
    reason: str = ""  # why this mode
    # incremental runs only
    window_rows: int | None = None  # source rows read again (received in the lookback window, or NULL)
    new_rows: int | None = None  # of those, the rows no build had processed
    visitors_rebuilt: int | None = None
    # source rows no build has processed (arrived beyond the lookback); None where not counted
    missed_rows: int | None = None

    @property
    def events(self) -> int:
        """Events placed in the tables (rows of dbt_mapped_tracks): kept copies with a timestamp and identity."""
        src = self.source
        return src.distinct_ids - src.events_without_timestamp - src.events_without_identity

    @property
    def events_left_out(self) -> int:
        """Events with no user_id and no anonymous_id, or no timestamp, or no id."""
        return self.source.distinct_ids - self.events + self.source.rows_without_id


Echo = Callable[[str], None]


class ProgressLine(str):
    """A line of a run's progress, as Echo receives it, that also says what it reports, for a caller that
    shows less than every line: the build's mode, or a step's kind and the rows it wrote."""

    mode: str | None
    kind: str | None
    rows: int | None

    def __new__(cls, text: str, mode: str | None = None, kind: str | None = None, rows: int | None = None):  # noqa: ANN204
        line = super().__new__(cls, text)
        line.mode, line.kind, line.rows = mode, kind, rows
        return line


def check_source(engine: Engine, settings: Settings) -> dict[str, str]:
    """The first source table's columns, after making sure every source table can feed the six columns."""
    from journey_sql.sources import check_source_table, probe_source

    source = settings.sources
    found = [check_source_table(engine, table, len(source.tables) > 1) for table in source.tables]
    probe_source(engine, source)
    return found[0]


def real_source(engine: Engine, settings: Settings) -> exp.Expression | None:
    """What the steps read in place of the source where the engine would miss it unquoted (else None).

    Postgres folds unquoted names to lower case, so a table or column created
    as "TRACKS" or "ID" passes the (case-insensitive) source check but is not
    found by `rudder.tracks`/`src.id`. The catalog's spelling is used instead:
    the table quoted, and columns renamed in a derived table the stages read.
    """
    if not isinstance(settings.sources.relation(), exp.Table):
        # A mapped or multi-table source names its columns in --column
        # expressions, which are written unquoted like every other name.
        return None
    found = engine.real_names(settings.source_schema, settings.source_table)
    if found is None:
        return None
    schema, table, columns = found
    fold = str.upper if engine.case_fold == "upper" else str.lower

    def ident(name: str) -> exp.Identifier:
        return exp.to_identifier(name, quoted=name != fold(name))

    real: exp.Expression = exp.Table(this=ident(table), db=ident(schema))
    if any(columns.get(c, c) != fold(columns.get(c, c)) for c in SOURCE_COLUMNS):
        real = exp.select(*(exp.alias_(exp.column(ident(columns.get(c, c))), c) for c in SOURCE_COLUMNS)).from_(real)
    elif schema == fold(schema) and table == fold(table):
        return None
    return real


def _source_error(engine: Engine, plan: Plan, err: BaseException) -> SourceError:
    """The events step is the run's one read of the source: its failure is about the source's rows."""
    source = plan.settings.sources.relation().sql()
    return SourceError(
        f"Reading the source {source} failed on {engine.describe()}: {first_line(err)}.{resource_hint(err)} "
        f"No tables were changed. Check that every row of {source} can be read (e.g. SELECT * FROM {source})."
    )


def source_stats(engine: Engine, plan: Plan) -> SourceStats:
    """The source counts apply prints, summed from the events table (no read of the source)."""
    rows, with_id, distinct_ids, without_timestamp, without_identity = engine.query(plan.source_stats_sql())[0]
    return SourceStats(
        rows=int(rows),
        rows_without_id=int(rows) - int(with_id),
        distinct_ids=int(distinct_ids),
        events_without_timestamp=int(without_timestamp),
        events_without_identity=int(without_identity),
    )


def _step(engine: Engine, what: str, action: Callable[..., Any], *args: Any) -> Any:
    """Run a helper query; a driver error becomes one line saying which step failed."""
    try:
        return action(*args)
    except JourneyError:
        raise
    except Exception as err:  # the driver's own error type differs per engine
        if is_interrupt(err):
            raise KeyboardInterrupt from err
        raise JourneyError(
            f"{what} failed on {engine.describe()}: {first_line(err)}.{resource_hint(err)} No tables were changed."
        ) from err


def is_interrupt(err: BaseException) -> bool:
    """A driver's own report of Ctrl-C: DuckDB raises InterruptException ("Query interrupted") when
    SIGINT arrives while it runs a query, instead of letting KeyboardInterrupt through."""
    return type(err).__name__ == "InterruptException" or "query interrupted" in str(err).lower()


def resource_hint(err: BaseException) -> str:
    """What to do about the errors that have a known remedy."""
    text = str(err).lower()
    if "out of memory" in text or "memory limit" in text:
        return " Raise --memory-limit (or JOURNEY_SQL_MEMORY_LIMIT), or give the warehouse more memory."
    if "serializable isolation violation" in text:  # Redshift: no advisory locks, concurrent writers collide
        return " Another transaction (another journey-sql run?) changed these tables at the same time; run again."
    return ""


def render_command(settings: Settings, dialect: str, stage: str, incremental: bool = False) -> str:
    """The `journey-sql render` command that prints `stage` (or the incremental script) as this run built it."""
    words = ["journey-sql", "render", "--dialect", dialect]
    words += ["--incremental"] if incremental else ["--stage", stage]
    default = Settings()
    for flag, name in (
        ("--source-schema", "source_schema"),
        ("--source-table", "source_table"),
        ("--schema", "schema"),
        ("--session-timeout", "session_timeout"),
        ("--depth", "depth"),
        ("--lookback", "lookback_seconds"),
    ):
        value = getattr(settings, name)
        if value != getattr(default, name):
            text = f"{value:g}" if isinstance(value, float) else str(value)
            words += [flag, f"{text}s" if name == "lookback_seconds" else text]
    return " ".join(shlex.quote(w) for w in words)


@contextlib.contextmanager
def closing_engine(engine: Engine) -> Iterator[Engine]:
    """Close the connection in one place; a failing close never hides the error that got us there."""
    try:
        yield engine
    except BaseException:
        with contextlib.suppress(Exception):
            engine.close()
        raise
    try:
        engine.close()
    except Exception as err:
        raise JourneyError(
            f"Closing the connection to {engine.describe()} failed: {first_line(err)}. "
            "The run itself finished; run apply again if the tables look incomplete."
        ) from err


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
    _step(engine, "Checking the source table", check_source, engine, settings)
    real = _step(engine, "Looking up the source's real names", real_source, engine, settings)
    report = RunReport()
    if begun and not engine.transactional_ddl:
        raise ValueError(f"run_pipeline(begun=True) needs transactional DDL, which {engine.describe()} lacks")
    if engine.transactional_ddl:
        # deciding inside the transaction, after the schema lock: a second run is told to wait at once
        prepare = lambda: _prepare(engine, settings, real, full_refresh, report, echo)  # noqa: E731
        _run_in_transaction(engine, settings, prepare, report, echo, explain, begun)
    else:
        prepared = _prepare(engine, settings, real, full_refresh, report, echo)
        _step(engine, f"Creating schema {settings.schema}", engine.create_schema, settings.schema)
        if prepared.plan.mode == "incremental":
            _run_incremental(engine, prepared.plan, report, echo, explain)
            _finish_incremental(engine, prepared, report)
        else:
            _run_with_staging(engine, prepared.plan, report, echo, explain)
    return report


@dataclass
class _Prepared:
    plan: Plan
    decision: Decision
    known_in_window: int = 0


def _prepare(
    engine: Engine,
    settings: Settings,
    real: exp.Expression | None,
    full_refresh: bool | str,
    report: RunReport,
    echo: Echo,
) -> _Prepared:
    """Decide full or incremental (reading the last build's state) and compile the plan for it."""
    decision = _step(engine, "Reading the last build's state", decide, engine, settings, full_refresh)
    report.mode, report.reason = ("incremental" if decision.incremental else "full"), decision.reason
    echo(ProgressLine(f"{report.mode} build: {decision.reason}", mode=report.mode))
    if not decision.incremental:
        return _Prepared(compile_plan(settings, engine.dialect, real), decision)
    plan = compile_incremental_plan(settings, engine.dialect, real, in_place=engine.row_level_dml)
    known = _step(engine, "Counting the rows the last build read", _known_in_window, engine, plan)
    return _Prepared(plan, decision, known)


def _finish_incremental(engine: Engine, prepared: _Prepared, report: RunReport) -> None:
    """The incremental run's counts: the whole source's (from the events table), rows read, visitors rebuilt."""
    decision = prepared.decision
    report.source = _step(engine, "Counting the source rows", source_stats, engine, prepared.plan)
    rows = {r.stage: r.rows for r in report.stages}
    report.new_rows = rows[NEW_ROWS.name]
    report.visitors_rebuilt = rows[CHANGED_VISITORS.name]
    report.window_rows = prepared.known_in_window + report.new_rows
    if decision.source_rows is not None and decision.rows_processed is not None:
        report.missed_rows = max(0, decision.source_rows - decision.rows_processed - report.new_rows)


def _known_in_window(engine: Engine, plan: Plan) -> int:
    """Rows of the events table in this run's window, before the run (the rows read = these + the new ones)."""
    assert plan.window_count is not None  # incremental plans carry it
    return int(engine.query(engine.dialect.generate(plan.window_count))[0][0])


def _build_stages(engine: Engine, plan: Plan, report: RunReport, echo: Echo, explain: Echo | None) -> None:
    unchanged = " No tables were changed."
    for step in plan.steps:
        started = time.perf_counter()
        try:
            if explain is not None and step.kind != "invalidate":
                shown = engine.explain(engine.dialect.generate(step.select))
                explain(f"-- plan for {step.name}\n{shown or '(this engine offers no plan)'}\n")
            inserted = engine.write_step(step)
            if step.kind in ("events", "stage", "work"):  # read by later steps
                engine.analyze(step.relation)
            if step.kind == "invalidate":
                unchanged = (
                    " Some tables may be partly updated; the build state was dropped first, so the next apply "
                    "rebuilds them in full."
                )
                continue
            rows = inserted if inserted is not None else _rows_written(engine, step)
        except JourneyError:
            raise
        except Exception as err:  # the driver's own error type differs per engine
            if is_interrupt(err):  # Ctrl-C reached the driver first: treat it as Ctrl-C
                raise KeyboardInterrupt from err
            if step.kind == "events":
                raise _source_error(engine, plan, err) from err
            raise StageError(
                step.name,
                f"Stage {step.name} failed on {engine.describe()}: {first_line(err)}."
                f"{resource_hint(err)}{unchanged} "
                f"Run `{render_command(plan.settings, plan.dialect.name, step.name, plan.mode == 'incremental')}` "
                "to see the SQL that failed.",
            ) from err
        if step.kind == "events":
            report.source = _step(engine, "Counting the source rows", source_stats, engine, plan)
        result = StageResult(step.name, rows, time.perf_counter() - started)
        report.stages.append(result)
        what = {"work": "rows to work on", "update": "rows rebuilt", "build": "rows (rebuilt table)"}
        line = f"{step.name:<22} {rows:>12,} {what.get(step.kind, 'rows')} {result.seconds:8.2f} s"
        echo(ProgressLine(line, kind=step.kind, rows=rows))


def _rows_written(engine: Engine, step: Step) -> int:
    """Rows the step wrote: its table's, or for an update the rows it inserted (its work table may hold more),
    counted by running the insert's select again where the driver did not report them."""
    if step.kind != "update":
        return engine.count_rows(step.relation)
    count = exp.select("COUNT(*)").from_(exp.Subquery(this=step.select.copy(), alias=exp.TableAlias(this="n")))
    return int(engine.query(engine.dialect.generate(count))[0][0])


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
    _step(engine, "Checking the source table", check_source, engine, settings)
    decision = _step(engine, "Reading the last build's state", decide, engine, settings, full_refresh)
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


def _run_in_transaction(
    engine: Engine,
    settings: Settings,
    prepare: Callable[[], _Prepared],
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
        if not _step(engine, f"Locking schema {settings.schema}", engine.lock_schema, settings.schema):
            raise JourneyError(
                f"Another journey-sql run is building {settings.schema} on {engine.describe()}; wait for it to "
                "finish and run again. (A run that was killed holds the lock until the server notices its "
                "connection is gone, at the latest when the query it was running ends.) No tables were changed."
            )
        _step(engine, f"Creating schema {settings.schema}", engine.create_schema, settings.schema)
        prepared = prepare()
        _build_stages(engine, prepared.plan, report, echo, explain)
        for step in prepared.plan.steps:
            if step.kind == "work":
                _step(engine, f"Dropping the work table {step.relation.name}", engine.drop_table, step.relation)
        if prepared.decision.incremental:
            _finish_incremental(engine, prepared, report)
        if not begun:
            engine.commit()
    except KeyboardInterrupt:
        with contextlib.suppress(Exception):
            engine.rollback()
        raise InterruptedRun("Interrupted (Ctrl-C): the run was rolled back, no tables were changed.") from None
    except BaseException:
        engine.rollback()
        raise


def _run_with_staging(engine: Engine, final: Plan, report: RunReport, echo: Echo, explain: Echo | None) -> None:
    settings = final.settings
    staging = final.with_suffix(STAGING_SUFFIX)
    replaced = 0
    try:
        _build_stages(engine, staging, report, echo, explain)
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


def _run_incremental(engine: Engine, plan: Plan, report: RunReport, echo: Echo, explain: Echo | None) -> None:
    """An incremental plan on an engine without transactional DDL (in place, or built beside and swapped)."""
    settings = plan.settings
    final = Relations.for_settings(settings).tables
    swapped = [s for s in plan.steps if s.kind in ("build", "state") and plan.suffix]
    replaced = 0
    try:
        _build_stages(engine, plan, report, echo, explain)
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
