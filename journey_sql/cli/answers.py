"""The commands that answer questions from the built tables: paths, funnel, report.

They connect like `apply` (same --connection/--target/--profile/--schema) and
fetch only aggregates. Registered on the group in app.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from journey_sql.api import Settings, connection_dialect, where_to_connect
from journey_sql.cli.errors import friendly_errors
from journey_sql.cli.options import allow_missing_option, connection_options, explicit, format_option, sql_options
from journey_sql.cli.output import echo, stderr


def _settings_and_url(ctx: click.Context, kw: dict[str, Any]) -> tuple[Settings, Any]:
    chosen = where_to_connect(kw["connection"], explicit(ctx, "connection"), kw["target"], kw["profile"])
    schema = kw["schema"]
    if not explicit(ctx, "schema") and "schema" in chosen.defaults:
        schema = chosen.defaults["schema"]
    return Settings.create(schema=schema), chosen


def _dialect_for(ctx: click.Context, kw: dict[str, Any]) -> str:
    if kw.get("dialect"):
        return kw["dialect"]
    _, chosen = _settings_and_url(ctx, kw)
    return connection_dialect(chosen.url)


def _check_events(engine: Any, settings: Settings, names: list[str], allow_missing: bool) -> None:
    """A named event that occurs in no row would count zero without a word: fail, or with
    --allow-missing-events warn, naming the closest events that do occur."""
    from journey_sql.api import ConfigError, describe_missing, missing_events

    missing = missing_events(engine, settings, names)
    if not missing:
        return
    text = describe_missing(missing, settings)
    if not allow_missing:
        raise ConfigError(f"{text} Fix the name, or add --allow-missing-events to count it as zero.")
    stderr(f"warning: {text} Counted as zero (--allow-missing-events).")


def _with_engine(ctx: click.Context, kw: dict[str, Any], action: Callable[[Any, Settings], Any]) -> Any:
    from journey_sql.api import connect

    settings, chosen = _settings_and_url(ctx, kw)
    engine = connect(chosen.url, secrets=chosen.secrets, threads=kw["threads"], memory_limit=kw["memory_limit"])
    try:
        return action(engine, settings)
    finally:
        engine.close()


@click.command()
@click.option("--steps", type=int, default=5, show_default=True, help="Events per path (1..50).")
@click.option("--top", type=int, default=10, show_default=True, help="How many paths to show.")
@click.option("--start-event", help="Start each path at the first occurrence of this event in the session.")
@allow_missing_option
@format_option
@sql_options
@connection_options
@click.pass_context
@friendly_errors
def paths(
    ctx: click.Context,
    steps: int,
    top: int,
    start_event: str | None,
    allow_missing_events: bool,
    fmt: str,
    **kw: Any,
) -> None:
    """The most common paths through sessions, each session counted once.

    A session shorter than --steps ends its path with (end). Equal counts are
    ordered by their steps, compared by code point.
    """
    from journey_sql.api import format_paths, paths_sql, top_paths

    if kw["print_sql"]:
        settings, _ = _settings_and_url(ctx, kw)
        echo(paths_sql(settings, _dialect_for(ctx, kw), steps, top, start_event) + ";")
        return

    def run(engine: Any, settings: Settings) -> Any:
        result = top_paths(engine, settings, steps, top, start_event)  # checks the options first
        if start_event:
            _check_events(engine, settings, [start_event], allow_missing_events)
        return result

    result = _with_engine(ctx, kw, run)
    echo(format_paths(result, fmt))


@click.command()
@click.argument("steps", nargs=-1, required=True)
@click.option(
    "--by",
    type=click.Choice(["session", "visitor"]),
    default="session",
    show_default=True,
    help="Count sessions, or visitors across their whole history.",
)
@allow_missing_option
@format_option
@sql_options
@connection_options
@click.pass_context
@friendly_errors
def funnel(
    ctx: click.Context, steps: tuple[str, ...], by: str, allow_missing_events: bool, fmt: str, **kw: Any
) -> None:
    """How many sessions (or visitors) did STEPS in order, not necessarily consecutively.

    Example: journey-sql funnel 'Product Viewed' 'Product Added' 'Order Completed'
    """
    from journey_sql.api import format_funnel, funnel_sql
    from journey_sql.api import funnel as run_funnel

    if kw["print_sql"]:
        settings, _ = _settings_and_url(ctx, kw)
        echo(funnel_sql(settings, _dialect_for(ctx, kw), steps, by) + ";")
        return

    def run(engine: Any, settings: Settings) -> Any:
        result = run_funnel(engine, settings, steps, by)  # checks the options first
        _check_events(engine, settings, list(steps), allow_missing_events)
        return result

    result = _with_engine(ctx, kw, run)
    echo(format_funnel(result, fmt))


@click.command()
@click.option(
    "--output",
    default="journey-report.html",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="The HTML file to write.",
)
@click.option("--funnel", "funnel_steps", multiple=True, help="A funnel step for the report (repeat, in order).")
@click.option(
    "--by", type=click.Choice(["session", "visitor"]), default="session", show_default=True, help="Funnel unit."
)
@allow_missing_option
@connection_options
@click.pass_context
@friendly_errors
def report(
    ctx: click.Context, output: str, funnel_steps: tuple[str, ...], by: str, allow_missing_events: bool, **kw: Any
) -> None:
    """Write one self-contained HTML report (opens offline): numbers, paths, funnel, sessions, durations."""
    from journey_sql.api import build_report, write_report

    def run(engine: Any, settings: Settings) -> Any:
        if funnel_steps:
            _check_events(engine, settings, list(funnel_steps), allow_missing_events)
        return build_report(engine, settings, list(funnel_steps), by)

    data = _with_engine(ctx, kw, run)
    size = write_report(data, output)
    stderr(f"wrote {output} ({size:,} bytes); open it in a browser, no network needed")


COMMANDS = (paths, funnel, report)
