"""Run the five stages against a connection, in order, leaving either the new tables or the old ones."""

from __future__ import annotations

import contextlib
import dataclasses
import shlex
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from journey_sql.engines.base import Engine
from journey_sql.errors import InterruptedRun, JourneyError, SourceError, StageError, first_line
from journey_sql.render import Relations, check_names, source_stats_select, stage_select, stage_statements
from journey_sql.settings import Settings
from journey_sql.stages import SOURCE_COLUMNS, STAGES

STAGING_SUFFIX = "__jsql_build"


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
    source: SourceStats
    stages: list[StageResult] = field(default_factory=list)

    @property
    def events(self) -> int:
        """Events placed in the tables (rows of dbt_mapped_tracks)."""
        return next(s.rows for s in self.stages if s.stage == "dbt_mapped_tracks")

    @property
    def events_left_out(self) -> int:
        """Events with no user_id and no anonymous_id, or no timestamp, or no id."""
        return self.source.distinct_ids - self.events + self.source.rows_without_id


Echo = Callable[[str], None]


def check_source(engine: Engine, settings: Settings) -> dict[str, str]:
    """The first source table's columns, after making sure every source table can feed the six columns."""
    from journey_sql.sources import check_source_table, probe_source

    source = settings.sources
    found = [check_source_table(engine, table, len(source.tables) > 1) for table in source.tables]
    probe_source(engine, source)
    return found[0]


def source_relations(engine: Engine, settings: Settings, relations: Relations) -> Relations:
    """`relations` reading the source by its real names where the engine would miss them unquoted.

    Postgres folds unquoted names to lower case, so a table or column created
    as "TRACKS" or "ID" passes the (case-insensitive) source check but is not
    found by `rudder.tracks`/`src.id`. The catalog's spelling is used instead:
    the table quoted, and columns renamed in a derived table the stages read.
    """
    if not isinstance(relations.source, exp.Table):
        # A mapped or multi-table source names its columns in --column
        # expressions, which are written unquoted like every other name.
        return relations
    found = engine.real_names(settings.source_schema, settings.source_table)
    if found is None:
        return relations
    schema, table, columns = found
    fold = str.upper if engine.case_fold == "upper" else str.lower

    def ident(name: str) -> exp.Identifier:
        return exp.to_identifier(name, quoted=name != fold(name))

    real: exp.Expression = exp.Table(this=ident(table), db=ident(schema))
    if any(columns.get(c, c) != fold(columns.get(c, c)) for c in SOURCE_COLUMNS):
        real = exp.select(*(exp.alias_(exp.column(ident(columns.get(c, c))), c) for c in SOURCE_COLUMNS)).from_(real)
    elif schema == fold(schema) and table == fold(table):
        return relations
    return dataclasses.replace(relations, real_source=real)


def source_stats(engine: Engine, relations: Relations) -> SourceStats:
    sql = source_stats_select(engine.dialect, relations)
    try:
        rows, with_id, distinct_ids, without_timestamp, without_identity = engine.query(sql)[0]
    except Exception as err:  # the driver's own error type differs per engine
        source = relations.source.sql()
        raise SourceError(
            f"Reading the source {source} failed on {engine.describe()}: {first_line(err)}.{resource_hint(err)} "
            f"No tables were changed. Check that every row of {source} can be read (e.g. SELECT * FROM {source})."
        ) from err
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
        raise JourneyError(
            f"{what} failed on {engine.describe()}: {first_line(err)}.{resource_hint(err)} No tables were changed."
        ) from err


def resource_hint(err: BaseException) -> str:
    """What to do about the errors that have a known remedy."""
    text = str(err).lower()
    if "out of memory" in text or "memory limit" in text:
        return " Raise --memory-limit (or JOURNEY_SQL_MEMORY_LIMIT), or give the warehouse more memory."
    if "serializable isolation violation" in text:  # Redshift: no advisory locks, concurrent writers collide
        return " Another transaction (another journey-sql run?) changed these tables at the same time; run again."
    return ""


def render_command(settings: Settings, dialect: str, stage: str) -> str:
    """The `journey-sql render` command that prints `stage` exactly as this run built it."""
    words = ["journey-sql", "render", "--dialect", dialect, "--stage", stage]
    default = Settings()
    for flag, name in (
        ("--source-schema", "source_schema"),
        ("--source-table", "source_table"),
        ("--schema", "schema"),
        ("--session-timeout", "session_timeout"),
        ("--depth", "depth"),
    ):
        value = getattr(settings, name)
        if value != getattr(default, name):
            words += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
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
) -> RunReport:
    """Build all five tables. On failure the previous tables are left exactly as they were."""
    check_names(settings, engine.dialect)
    final = Relations.for_settings(settings)
    targets = {t.sql().lower() for t in final.tables.values()}
    for table in settings.sources.tables:
        if table.path is None and table.label.lower() in targets:
            raise JourneyError(
                f"--schema {settings.schema} would overwrite the source table {table.label}; choose another schema."
            )
    _step(engine, "Checking the source table", check_source, engine, settings)
    final = _step(engine, "Looking up the source's real names", source_relations, engine, settings, final)
    report = RunReport(source=_step(engine, "Counting the source rows", source_stats, engine, final))
    if engine.transactional_ddl:
        _run_in_transaction(engine, settings, final, report, echo, explain)
    else:
        _step(engine, f"Creating schema {settings.schema}", engine.create_schema, settings.schema)
        _run_with_staging(engine, settings, final, report, echo, explain)
    return report


def _build_stages(
    engine: Engine, settings: Settings, relations: Relations, report: RunReport, echo: Echo, explain: Echo | None
) -> None:
    dialect = engine.dialect
    for stage in STAGES:
        started = time.perf_counter()
        try:
            if explain is not None:
                plan = engine.explain(engine.dialect.generate(stage_select(stage, settings, dialect, relations)))
                explain(f"-- plan for {stage.name}\n{plan or '(this engine offers no plan)'}\n")
            for sql in stage_statements(stage, settings, dialect, relations):
                engine.execute(sql)
            rows = engine.count_rows(relations.tables[stage.name])
        except JourneyError:
            raise
        except Exception as err:  # the driver's own error type differs per engine
            raise StageError(
                stage.name,
                f"Stage {stage.name} failed on {engine.describe()}: {first_line(err)}."
                f"{resource_hint(err)} No tables were changed. "
                f"Run `{render_command(settings, dialect.name, stage.name)}` to see the SQL that failed.",
            ) from err
        result = StageResult(stage.name, rows, time.perf_counter() - started)
        report.stages.append(result)
        echo(f"{stage.name:<22} {rows:>12,} rows {result.seconds:8.2f} s")


def dry_run_pipeline(engine: Engine, settings: Settings) -> list[tuple[str, int | None]]:
    """(stage, bytes it would scan) without building anything, where the engine can estimate.

    Stages are estimated against the current tables, so a refresh gets a number
    for every stage; on a first run, a stage whose inputs do not exist yet is
    None (unknown).
    """
    dry_run = getattr(engine, "dry_run", None)
    if dry_run is None:
        raise JourneyError(
            f"--dry-run needs an engine that estimates query cost (BigQuery); {engine.dialect.name} does not."
        )
    check_names(settings, engine.dialect)
    _step(engine, "Checking the source table", check_source, engine, settings)
    relations = Relations.for_settings(settings)
    schema = settings.schema.lower()
    built = (
        {t.lower() for t in engine.tables(settings.schema)}
        if schema in (s.lower() for s in engine.schemas())
        else set()
    )
    estimates: list[tuple[str, int | None]] = []
    for stage in STAGES:
        select = stage_select(stage, settings, engine.dialect, relations)
        inputs = {t.name.lower() for t in select.find_all(exp.Table) if t.db.lower() == schema}
        estimates.append((stage.name, None if inputs - built else dry_run(engine.dialect.generate(select))))
    return estimates


def _run_in_transaction(
    engine: Engine, settings: Settings, final: Relations, report: RunReport, echo: Echo, explain: Echo | None
) -> None:
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
        _build_stages(engine, settings, final, report, echo, explain)
        engine.commit()
    except KeyboardInterrupt:
        with contextlib.suppress(Exception):
            engine.rollback()
        raise InterruptedRun("Interrupted (Ctrl-C): the run was rolled back, no tables were changed.") from None
    except BaseException:
        engine.rollback()
        raise


def _run_with_staging(
    engine: Engine, settings: Settings, final: Relations, report: RunReport, echo: Echo, explain: Echo | None
) -> None:
    staging = dataclasses.replace(
        Relations.for_settings(settings, suffix=STAGING_SUFFIX), real_source=final.real_source
    )
    replaced = 0
    try:
        _build_stages(engine, settings, staging, report, echo, explain)
        for stage in STAGES:
            engine.replace_table(final.tables[stage.name], staging.tables[stage.name])
            replaced += 1
    except KeyboardInterrupt:
        if replaced == 0:
            message = (
                "Interrupted (Ctrl-C) while building: no tables were changed "
                f"(the {STAGING_SUFFIX} staging tables are dropped)."
            )
        else:
            message = (
                f"Interrupted (Ctrl-C) while putting the new tables in place: {replaced} of {len(STAGES)} "
                f"tables in {settings.schema} are new, the others are from the previous run. "
                "Run apply again to finish."
            )
        raise InterruptedRun(message) from None
    finally:
        for table in staging.tables.values():
            _quietly(engine.drop_table, table)


def _quietly(action: Callable[[exp.Table], None], table: exp.Table) -> None:
    try:
        action(table)
    except Exception:  # cleanup must not hide the error that got us here
        pass
