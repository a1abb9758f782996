"""The command line: parse options, call the library, turn its errors into messages."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any

import click

from journey_sql import __version__
from journey_sql.connection import DEFAULT_CONNECTION
from journey_sql.errors import JourneyError
from journey_sql.settings import DEFAULT_DEPTH, DEFAULT_SESSION_TIMEOUT, MAX_DEPTH, MIN_DEPTH, Settings


def _env(name: str) -> str:
    return f"JOURNEY_SQL_{name.upper()}"


def pipeline_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options every command that writes the five tables shares."""
    options = [
        click.option(
            "--source-schema", envvar=_env("source_schema"), help="Schema of the tracks table. [default: rudder]"
        ),
        click.option(
            "--source-table", envvar=_env("source_table"), help="The RudderStack tracks table. [default: tracks]"
        ),
        click.option(
            "--schema", envvar=_env("schema"), help="Schema the five tables are written to. [default: analytics]"
        ),
        click.option(
            "--session-timeout",
            type=float,
            envvar=_env("session_timeout"),
            help=f"Minutes of inactivity that end a session (may be fractional, > 0). [default: {DEFAULT_SESSION_TIMEOUT:g}]",
        ),
        click.option(
            "--depth",
            type=int,
            envvar=_env("depth"),
            help=f"Events per dbt_tracks_flow row: the event and the {DEFAULT_DEPTH - 1} that follow it "
            f"({MIN_DEPTH}..{MAX_DEPTH}). [default: {DEFAULT_DEPTH}]",
        ),
        click.option(
            "--count-event",
            "count_events",
            multiple=True,
            type=EventNames(),
            envvar=_env("count_events"),
            help="Add a cnt_<event> column to dbt_session_track_facts counting this event per session "
            "(repeatable; JOURNEY_SQL_COUNT_EVENTS takes a comma-separated list).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


class EventNames(click.ParamType):
    """Event names contain spaces ('Product Viewed'), so a list in an environment variable is split on commas."""

    name = "NAME"
    envvar_list_splitter = ","

    def split_envvar_value(self, rv: str) -> list[str]:
        return [part.strip() for part in rv.split(",") if part.strip()]


def duckdb_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option(
        "--memory-limit", envvar=_env("memory_limit"), help="DuckDB and local Spark: memory limit, e.g. 2GB."
    )(func)
    return click.option("--threads", type=int, envvar=_env("threads"), help="DuckDB and local Spark: worker threads.")(
        func
    )


def _settings(kwargs: dict[str, Any]) -> Settings:
    return Settings.create(
        source_schema=kwargs.pop("source_schema"),
        source_table=kwargs.pop("source_table"),
        schema=kwargs.pop("schema"),
        session_timeout=kwargs.pop("session_timeout"),
        depth=kwargs.pop("depth"),
        count_events=kwargs.pop("count_events", None),
    )


def friendly_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except JourneyError as err:
            raise click.ClickException(str(err)) from err

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="journey-sql")
@click.pass_context
@friendly_errors
def cli(ctx: click.Context) -> None:
    """Customer-journey tables from RudderStack tracks, the same on every warehouse.

    Options can also come from JOURNEY_SQL_<OPTION> environment variables and a
    journey-sql.toml file in the working directory (flags win over the
    environment, the environment over the file).
    """
    from journey_sql.config import default_map, load_config

    assert isinstance(ctx.command, click.Group)
    ctx.default_map = default_map(ctx.command.commands, load_config())


@cli.command()
@click.option("--dialect", envvar=_env("dialect"), default="duckdb", show_default=True, help="Target SQL dialect.")
@click.option("--stage", "stages", multiple=True, help="Print only this stage (repeatable). [default: all five]")
@pipeline_options
@friendly_errors
def render(dialect: str, stages: tuple[str, ...], **kwargs: Any) -> None:
    """Print the DDL for all stages (or one), ready to paste or pipe into a warehouse console."""
    from journey_sql.render import render_script
    from journey_sql.stages import get_stage

    settings = _settings(kwargs)
    names = [get_stage(s).name for s in stages] or None
    click.echo(render_script(settings, dialect, names), nl=False)


@cli.command()
@click.option(
    "--connection",
    envvar=_env("connection"),
    default=DEFAULT_CONNECTION,
    show_default=True,
    help="Where to build the tables, e.g. duckdb:///path/to/file.duckdb.",
)
@click.option("--target", help="A [targets.NAME] table of journey-sql.toml, or with --profile a dbt output.")
@click.option("--profile", help="Connect as this dbt profile in profiles.yml (DBT_PROFILES_DIR or ~/.dbt).")
@click.option("--explain", is_flag=True, help="Also print the engine's plan for each stage (to stdout).")
@click.option("--dry-run", is_flag=True, help="BigQuery: report the bytes each stage would scan; build nothing.")
@pipeline_options
@duckdb_options
@click.pass_context
@friendly_errors
def apply(
    ctx: click.Context,
    connection: str,
    target: str | None,
    profile: str | None,
    explain: bool,
    dry_run: bool,
    threads: int | None,
    memory_limit: str | None,
    **kwargs: Any,
) -> None:
    """Build the five tables on a connection, in order; stage timings go to stderr."""
    from journey_sql.config import load_config
    from journey_sql.engines import connect
    from journey_sql.executor import dry_run_pipeline, run_pipeline
    from journey_sql.targets import resolve

    chosen = resolve(connection, _explicit(ctx, "connection"), target, profile, load_config())
    for key, value in chosen.defaults.items():
        if key in kwargs and not _explicit(ctx, key):
            kwargs[key] = value
    settings = _settings(kwargs)
    engine = connect(chosen.url, secrets=chosen.secrets, threads=threads, memory_limit=memory_limit)
    try:
        if dry_run:
            estimates = dry_run_pipeline(engine, settings)
        else:
            report = run_pipeline(engine, settings, echo=_stderr, explain=click.echo if explain else None)
    finally:
        engine.close()
    if dry_run:
        for stage, scanned in estimates:
            click.echo(
                f"{stage:<22} {'unknown until the tables exist (first run)' if scanned is None else f'{scanned:,} bytes'}"
            )
        click.echo(f"{'total':<22} {sum(b or 0 for _, b in estimates):,} bytes (known stages)")
        return
    src = report.source
    _stderr(
        f"read {src.rows:,} source rows: {src.duplicate_deliveries:,} duplicate deliveries dropped, "
        f"{report.events_left_out:,} events left out (no id, no timestamp, or neither user_id nor anonymous_id), "
        f"{report.events:,} events placed in {settings.schema}."
    )


@cli.command()
@click.option("--events", type=click.IntRange(min=1), default=100_000, show_default=True, help="Events to generate.")
@click.option("--seed", type=int, default=42, show_default=True, help="Random seed for the sample data.")
@click.option(
    "--database",
    default="journey.duckdb",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="DuckDB file to create (its rudder.tracks table is replaced).",
)
@pipeline_options
@duckdb_options
@friendly_errors
def demo(events: int, seed: int, database: str, threads: int | None, memory_limit: str | None, **kwargs: Any) -> None:
    """Generate realistic sample RudderStack tracks in DuckDB, build every table, and summarise them."""
    from journey_sql.demo import run_demo

    run_demo(database, events, seed, _settings(kwargs), threads=threads, memory_limit=memory_limit, echo=_stderr)


@cli.command()
def dialects() -> None:
    """List the SQL dialects `render --dialect` accepts."""
    from journey_sql.dialects import DIALECTS

    for name in DIALECTS:
        click.echo(name)


def _explicit(ctx: click.Context, name: str) -> bool:
    """Whether an option was given as a flag or environment variable (rather than by a file or default)."""
    source = ctx.get_parameter_source(name)
    return source in (click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT)


def _stderr(line: str) -> None:
    click.echo(line, err=True)


def _add_answer_commands() -> None:
    from journey_sql.cli_answers import COMMANDS

    for command in COMMANDS:
        cli.add_command(command)


_add_answer_commands()


def main() -> None:
    cli(prog_name="journey-sql")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
