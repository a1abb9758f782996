"""Run the five stages against a connection, in order, leaving either the new tables or the old ones."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlglot import exp

from journey_sql.engines.base import Engine
from journey_sql.errors import JourneyError, StageError, first_line
from journey_sql.render import Relations, stage_select, stage_statements
from journey_sql.settings import Settings
from journey_sql.stages import STAGES

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


def source_stats(engine: Engine, relations: Relations) -> SourceStats:
    source = engine.sql(relations.source)
    rows, with_id, distinct_ids = engine.query(
        f"SELECT COUNT(*), COUNT(src.id), COUNT(DISTINCT src.id) FROM {source} AS src"
    )[0]
    return SourceStats(rows=int(rows), rows_without_id=int(rows) - int(with_id), distinct_ids=int(distinct_ids))


def run_pipeline(
    engine: Engine,
    settings: Settings,
    echo: Echo = lambda _: None,
    explain: Echo | None = None,
) -> RunReport:
    """Build all five tables. On failure the previous tables are left exactly as they were."""
    final = Relations.for_settings(settings)
    targets = {t.sql().lower() for t in final.tables.values()}
    for table in settings.sources.tables:
        if table.path is None and table.label.lower() in targets:
            raise JourneyError(
                f"--schema {settings.schema} would overwrite the source table {table.label}; choose another schema."
            )
    check_source(engine, settings)
    report = RunReport(source=source_stats(engine, final))
    engine.create_schema(settings.schema)
    if engine.transactional_ddl:
        _run_in_transaction(engine, settings, final, report, echo, explain)
    else:
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
                f"Stage {stage.name} failed on {engine.describe()}: {first_line(err)}. "
                "No tables were changed. Run `journey-sql render --stage "
                f"{stage.name} --dialect {dialect.name}` to see the SQL that failed.",
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
    check_source(engine, settings)
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
        _build_stages(engine, settings, final, report, echo, explain)
        engine.commit()
    except BaseException:
        engine.rollback()
        raise


def _run_with_staging(
    engine: Engine, settings: Settings, final: Relations, report: RunReport, echo: Echo, explain: Echo | None
) -> None:
    staging = Relations.for_settings(settings, suffix=STAGING_SUFFIX)
    try:
        _build_stages(engine, settings, staging, report, echo, explain)
        for stage in STAGES:
            engine.replace_table(final.tables[stage.name], staging.tables[stage.name])
    finally:
        for table in staging.tables.values():
            _quietly(engine.drop_table, table)


def _quietly(action: Callable[[exp.Table], None], table: exp.Table) -> None:
    try:
        action(table)
    except Exception:  # cleanup must not hide the error that got us here
        pass
