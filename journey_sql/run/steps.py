"""Running a plan's steps one after another on an engine, each failure one line saying which step and why."""

from __future__ import annotations

import contextlib
import shlex
import time
from collections.abc import Callable, Iterator
from typing import Any

from sqlglot import exp

from journey_sql.compile.plan import Plan, Step
from journey_sql.core.errors import (
    JourneyError,
    SourceError,
    StageError,
    first_line,
    is_interrupt,
    resource_hint,
)
from journey_sql.engines.base import Engine
from journey_sql.run.results import Echo, ProgressLine, RunReport, SourceStats, StageResult
from journey_sql.settings.options import Settings


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


def guarded_step(engine: Engine, what: str, action: Callable[..., Any], *args: Any) -> Any:
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


def build_steps(engine: Engine, plan: Plan, report: RunReport, echo: Echo, explain: Echo | None) -> None:
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
            report.source = guarded_step(engine, "Counting the source rows", source_stats, engine, plan)
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
