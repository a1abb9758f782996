"""The options the commands share, and where each value came from (flag, environment, journey-sql.toml).

A value that came from the environment or the file is named that way in an error, so the user fixes the
right place."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from journey_sql.api import DEFAULT_CONNECTION, DEFAULT_DEPTH, DEFAULT_SESSION_TIMEOUT, MAX_DEPTH, MIN_DEPTH, Settings


def env(name: str) -> str:
    return f"JOURNEY_SQL_{name.upper()}"


def pipeline_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options every command that writes the eight tables shares."""
    options = [
        click.option(
            "--source-schema", envvar=env("source_schema"), help="Schema of the tracks table. [default: rudder]"
        ),
        click.option(
            "--source-table",
            envvar=env("source_table"),
            multiple=True,
            help="The tracks table; repeat to union several (tracks, pages, screens). [default: tracks]",
        ),
        click.option(
            "--source-path",
            envvar=env("source_path"),
            help="DuckDB only: read event files instead of a table, e.g. 'events/*.parquet', a Hive-partitioned "
            "folder, *.jsonl, *.json.gz, *.csv.",
        ),
        click.option(
            "--layout",
            envvar=env("layout"),
            help="Preset column mapping: rudderstack, segment (same columns) or snowplow (atomic.events). "
            "[default: rudderstack]",
        ),
        click.option(
            "--column",
            "columns",
            multiple=True,
            metavar="COLUMN=EXPR",
            help="Read COLUMN (id, anonymous_id, user_id, event, timestamp, received_at) from a source column "
            'or SQL expression, e.g. event=event_text or timestamp="epoch_ms(ts_ms)"; TABLE.COLUMN=EXPR for one '
            "source table. Repeatable.",
        ),
        click.option(
            "--schema", envvar=env("schema"), help="Schema the eight tables are written to. [default: analytics]"
        ),
        click.option(
            "--session-timeout",
            type=float,
            envvar=env("session_timeout"),
            help=f"Minutes of inactivity that end a session (may be fractional, > 0). [default: {DEFAULT_SESSION_TIMEOUT:g}]",
        ),
        click.option(
            "--depth",
            type=int,
            envvar=env("depth"),
            help=f"Events per dbt_tracks_flow row: the event and the {DEFAULT_DEPTH - 1} that follow it "
            f"({MIN_DEPTH}..{MAX_DEPTH}). [default: {DEFAULT_DEPTH}]",
        ),
        click.option(
            "--count-event",
            "count_events",
            multiple=True,
            type=EventNames(),
            envvar=env("count_events"),
            help="Add a cnt_<event> column to dbt_session_track_facts counting this event per session "
            "(repeatable; JOURNEY_SQL_COUNT_EVENTS takes a comma-separated list).",
        ),
        click.option(
            "--lookback",
            envvar=env("lookback"),
            metavar="DURATION",
            help="Incremental builds: also read rows received up to this long before the newest received_at the "
            "last build processed, to pick up late-loaded rows (24h, 90m, 2d, 3600s). [default: 24h]",
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
        "--memory-limit", envvar=env("memory_limit"), help="DuckDB and local Spark: memory limit, e.g. 2GB."
    )(func)
    return click.option("--threads", type=int, envvar=env("threads"), help="DuckDB and local Spark: worker threads.")(
        func
    )


def settings_from(kwargs: dict[str, Any]) -> Settings:
    from journey_sql.api import ConfigError

    try:
        return Settings.create(
            source_schema=kwargs.pop("source_schema"),
            source_table=kwargs.pop("source_table"),
            source_path=kwargs.pop("source_path"),
            layout=kwargs.pop("layout"),
            columns=kwargs.pop("columns"),
            schema=kwargs.pop("schema"),
            session_timeout=kwargs.pop("session_timeout"),
            depth=kwargs.pop("depth"),
            count_events=kwargs.pop("count_events", None),
            lookback=kwargs.pop("lookback", None),
        )
    except ConfigError as err:
        raise ConfigError(blame_origin(str(err))) from None


# the flag a Settings error names, for each option whose value may come from elsewhere
_FLAGS = {
    "source_schema": "--source-schema",
    "source_table": "--source-table",
    "source_path": "--source-path",
    "layout": "--layout",
    "columns": "--column",
    "schema": "--schema",
    "session_timeout": "--session-timeout",
    "depth": "--depth",
    "count_events": "--count-event",
    "lookback": "--lookback",
}


ORIGINS = "journey_sql.origins"  # ctx.meta: option -> where apply took it from instead (a target's table)


def origin(ctx: click.Context, name: str) -> str | None:
    """Where an option's value came from when it was not the command line: an environment variable, or a key of
    journey-sql.toml (at the top or in a target). None for a flag or a built-in default."""
    if name in ctx.meta.get(ORIGINS, {}):
        return str(ctx.meta[ORIGINS][name])
    source = ctx.get_parameter_source(name)
    if source == click.core.ParameterSource.ENVIRONMENT:
        param = next((p for p in ctx.command.params if p.name == name), None)
        envvar = getattr(param, "envvar", None) or env(name)
        return f"the environment variable {envvar if isinstance(envvar, str) else envvar[0]}"
    if source == click.core.ParameterSource.DEFAULT_MAP:
        from journey_sql.api import config_path

        return f"{name} in {config_path()}"
    return None


def blame_origin(message: str) -> str:
    """A Settings error names the flag (`--session-timeout must be ...`); where the value came from the
    environment or journey-sql.toml, name that instead, so the user fixes the right place."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return message
    for name, flag in _FLAGS.items():
        if message.startswith(flag + " ") or message.startswith(flag + "="):
            where = origin(ctx, name)
            return message if where is None else where + message[len(flag) :]
    return message


def explicit(ctx: click.Context, name: str) -> bool:
    """Whether an option was given as a flag or environment variable (rather than by a file or default)."""
    source = ctx.get_parameter_source(name)
    return source in (click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT)


def given_options(ctx: click.Context, leave_out: tuple[str, ...] = ()) -> list[str]:
    """The options given as flags or environment variables, as the flags that give them again."""
    args: list[str] = []
    for param in ctx.command.params:
        if not isinstance(param, click.Option) or param.name in leave_out or not explicit(ctx, str(param.name)):
            continue
        flag = max(param.opts, key=len)
        value = ctx.params[str(param.name)]
        if param.is_flag:
            args += [flag] if value else []
        else:
            for item in value if param.multiple else [value]:
                args += [flag, f"{item:g}" if isinstance(item, float) else str(item)]
    return args


def connection_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option(
            "--connection",
            envvar=env("connection"),
            default=DEFAULT_CONNECTION,
            show_default=True,
            help="Where the tables were built, e.g. duckdb:///path/to/file.duckdb.",
        ),
        click.option("--target", help="A [targets.NAME] table of journey-sql.toml, or with --profile a dbt output."),
        click.option("--profile", help="Connect as this dbt profile in profiles.yml (DBT_PROFILES_DIR or ~/.dbt)."),
        click.option("--schema", envvar=env("schema"), help="Schema the tables are in. [default: analytics]"),
    ]
    for option in reversed(options):
        func = option(func)
    return duckdb_options(func)


def sql_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option(
        "--dialect", envvar=env("dialect"), help="With --sql: the dialect to print. [default: the connection's]"
    )(func)
    return click.option("--sql", "print_sql", is_flag=True, help="Print the query instead of running it.")(func)


def format_option(func: Callable[..., Any]) -> Callable[..., Any]:
    from journey_sql.api import FORMATS

    return click.option(
        "--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True, help="Output format."
    )(func)


def allow_missing_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--allow-missing-events",
        is_flag=True,
        help="Count an event name that occurs in no row as zero, with a warning, instead of failing.",
    )(func)
