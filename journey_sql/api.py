"""The public Python API: everything the command line does, for a script or a DAG (Airflow, Dagster) to call.

The command line (journey_sql.cli) uses nothing else of the package, so what it
can do, a script can do the same way:

    from journey_sql import api

    settings = api.Settings.create(schema="analytics", count_events=["Order Completed"])
    print(api.render(settings, "snowflake"))  # the DDL, as `journey-sql render` prints it

    engine = api.connect("duckdb:///journey.duckdb")  # e.g. the file `journey-sql demo` made
    with api.closing_engine(engine):
        report = api.apply(engine, settings, echo=print)  # full or incremental, as the last build allows
        paths = api.top_paths(engine, settings, steps=3, top=5)
    print(report.mode, report.events, api.format_paths(paths, "table"))

Every failure is a `JourneyError` (a `ConfigError` for bad settings) whose
message is one line saying what went wrong and what to do. Names not listed in
`__all__` are internal and may change between versions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from journey_sql import __version__
from journey_sql.answers.events import MissingEvent, describe_missing, missing_events, uncounted_events
from journey_sql.answers.formats import FORMATS, format_funnel, format_paths
from journey_sql.answers.funnel import BY_CHOICES, FunnelResult, funnel, funnel_sql
from journey_sql.answers.paths import PathsResult, paths_sql, top_paths
from journey_sql.answers.report import ReportData, build_report, write_report
from journey_sql.compile.plan import Plan, compile_plan
from journey_sql.compile.script import render_script
from journey_sql.core.errors import ConfigError, JourneyError, first_line
from journey_sql.core.redact import scrub
from journey_sql.core.stages import get_stage
from journey_sql.dbt.project import Written, command_line
from journey_sql.dbt.project import write_project as write_dbt_project
from journey_sql.demo.data import generate as generate_sample_tracks
from journey_sql.demo.run import run_demo
from journey_sql.dialects.dialect import DIALECTS, get_dialect
from journey_sql.engines import connection as _connection
from journey_sql.engines.base import Engine
from journey_sql.engines.connection import DEFAULT_CONNECTION, engine_class, parse_connection
from journey_sql.engines.profiles import resolve
from journey_sql.run.pipeline import dry_run_pipeline, run_pipeline
from journey_sql.run.results import RunReport
from journey_sql.run.steps import closing_engine
from journey_sql.settings.config import config_path, default_map, load_config, option_value
from journey_sql.settings.files import check_local_files
from journey_sql.settings.options import DEFAULT_DEPTH, DEFAULT_SESSION_TIMEOUT, MAX_DEPTH, MIN_DEPTH, Settings
from journey_sql.settings.targets import Target

Echo = Callable[[str], None]


def render(settings: Settings, dialect: str = "duckdb", stages: Sequence[str] = (), incremental: bool = False) -> str:
    """The SQL script `journey-sql render` prints: every stage (or the named ones), or the incremental build."""
    names = [get_stage(s).name for s in stages] or None
    return render_script(settings, dialect, names, incremental=incremental)


def plan(settings: Settings, dialect: str = "duckdb") -> Plan:
    """The compiled full build: its steps, each with the table it writes and the statements that write it."""
    return compile_plan(settings, get_dialect(dialect))


def dialects() -> list[str]:
    """The dialects `render` accepts."""
    return list(DIALECTS)


def where_to_connect(
    connection: str = DEFAULT_CONNECTION,
    connection_is_explicit: bool = False,
    target: str | None = None,
    profile: str | None = None,
) -> Target:
    """Where a command connects: the URL, a [targets.NAME] table of journey-sql.toml, or a dbt profile output."""
    return resolve(connection, connection_is_explicit, target, profile, load_config())


def connect(url: str, secrets: dict[str, str] | None = None, **options: Any) -> Engine:
    """An engine for the URL (drivers load here); `options`: threads, memory_limit, create (DuckDB, Spark)."""
    return _connection.connect(url, secrets=secrets, **options)


def connection_dialect(url: str) -> str:
    """The dialect a connection URL's warehouse speaks (what `--sql` prints without `--dialect`)."""
    return engine_class(parse_connection(url).scheme).dialect_name


def check_event_files(settings: Settings) -> bool:
    """Whether the source is event files; if so, that each pattern matches a file (else a ConfigError)."""
    paths = [t.path for t in settings.sources.tables if t.path is not None]
    for path in paths:
        check_local_files(path)
    return bool(paths)


def apply(
    engine: Engine,
    settings: Settings,
    echo: Echo | None = None,
    explain: Echo | None = None,
    full_refresh: bool = False,
) -> RunReport:
    """Build every table, incrementally where the last build allows; all or nothing (docs/incremental.md).

    `echo` receives each progress line as a step finishes; `explain` the engine's plan of each step."""
    return run_pipeline(engine, settings, echo=echo or (lambda _: None), explain=explain, full_refresh=full_refresh)


def dry_run(engine: Engine, settings: Settings, full_refresh: bool = False) -> tuple[str, list[tuple[str, int | None]]]:
    """BigQuery: the build apply would run ("full"/"incremental") and the bytes each step would scan."""
    return dry_run_pipeline(engine, settings, full_refresh)


__all__ = [
    "BY_CHOICES",
    "DEFAULT_CONNECTION",
    "DEFAULT_DEPTH",
    "DEFAULT_SESSION_TIMEOUT",
    "FORMATS",
    "MAX_DEPTH",
    "MIN_DEPTH",
    "ConfigError",
    "Engine",
    "FunnelResult",
    "JourneyError",
    "MissingEvent",
    "PathsResult",
    "Plan",
    "ReportData",
    "RunReport",
    "Settings",
    "Target",
    "Written",
    "__version__",
    "apply",
    "build_report",
    "check_event_files",
    "closing_engine",
    "command_line",
    "config_path",
    "connect",
    "connection_dialect",
    "default_map",
    "describe_missing",
    "dialects",
    "dry_run",
    "first_line",
    "format_funnel",
    "format_paths",
    "generate_sample_tracks",
    "funnel",
    "funnel_sql",
    "load_config",
    "missing_events",
    "option_value",
    "paths_sql",
    "plan",
    "render",
    "run_demo",
    "scrub",
    "top_paths",
    "uncounted_events",
    "where_to_connect",
    "write_dbt_project",
    "write_report",
]
