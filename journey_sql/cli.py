"""The command line: parse options, call the library, turn its errors into messages."""

from __future__ import annotations

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
    """The options every command that writes the eight tables shares."""
    options = [
        click.option(
            "--source-schema", envvar=_env("source_schema"), help="Schema of the tracks table. [default: rudder]"
        ),
        click.option(
            "--source-table",
            envvar=_env("source_table"),
            multiple=True,
            help="The tracks table; repeat to union several (tracks, pages, screens). [default: tracks]",
        ),
        click.option(
            "--source-path",
            envvar=_env("source_path"),
            help="DuckDB only: read event files instead of a table, e.g. 'events/*.parquet', a Hive-partitioned "
            "folder, *.jsonl, *.json.gz, *.csv.",
        ),
        click.option(
            "--layout",
            envvar=_env("layout"),
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
            "--schema", envvar=_env("schema"), help="Schema the eight tables are written to. [default: analytics]"
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
        click.option(
            "--lookback",
            envvar=_env("lookback"),
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
        "--memory-limit", envvar=_env("memory_limit"), help="DuckDB and local Spark: memory limit, e.g. 2GB."
    )(func)
    return click.option("--threads", type=int, envvar=_env("threads"), help="DuckDB and local Spark: worker threads.")(
        func
    )


def _settings(kwargs: dict[str, Any]) -> Settings:
    from journey_sql.errors import ConfigError

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
        envvar = getattr(param, "envvar", None) or _env(name)
        return f"the environment variable {envvar if isinstance(envvar, str) else envvar[0]}"
    if source == click.core.ParameterSource.DEFAULT_MAP:
        from journey_sql.config import config_path

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


def friendly_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except JourneyError as err:
            raise _one_line_error(str(err), getattr(err, "exit_code", 1)) from err

    return wrapper


class _JourneyException(click.ClickException):
    """A one-line error (secrets masked) with the exit code the error asks for."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # click declares it on the class; per error here


def _one_line_error(message: str, exit_code: int = 1) -> click.ClickException:
    from journey_sql.redact import scrub

    return _JourneyException(scrub(" ".join(message.split())), exit_code)


class JourneyGroup(click.Group):
    """The safety net: whatever escapes a command ends in one line and a non-zero exit, never a traceback.

    JourneyErrors are already one line that says what to do. Anything else is a
    bug or a driver error nobody anticipated: its first line is shown, secrets
    masked, with how to see the traceback (`journey-sql --debug ...`). Ctrl-C
    exits 130 saying what it left behind.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.BadParameter as err:
            # a value from the environment or journey-sql.toml: name that, not the flag nobody typed
            where = origin(err.ctx, err.param.name) if err.ctx is not None and err.param and err.param.name else None
            if where is not None:
                err.param_hint = where
            raise
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except JourneyError as err:
            raise _one_line_error(str(err), getattr(err, "exit_code", 1)) from err
        except KeyboardInterrupt:
            # (a run interrupted while building says itself what it left: InterruptedRun)
            if _debug(ctx):
                _print_traceback()
            where = " before any table was changed" if ctx.invoked_subcommand == "apply" else ""
            raise _one_line_error(f"Interrupted (Ctrl-C){where}.", exit_code=INTERRUPTED_EXIT_CODE) from None
        except Exception as err:
            if _debug(ctx):
                _print_traceback()
                raise _one_line_error(f"journey-sql failed: {_first_line(err)}.") from None
            command = ctx.invoked_subcommand or "<command>"
            raise _one_line_error(
                f"journey-sql failed: {_first_line(err)}. Run again as `journey-sql --debug {command} ...` "
                "for the traceback."
            ) from None


INTERRUPTED_EXIT_CODE = 130


def _first_line(err: BaseException) -> str:
    from journey_sql.errors import first_line

    return f"{type(err).__name__}: {first_line(err)}".rstrip(".")


def _debug(ctx: click.Context) -> bool:
    return bool((ctx.obj or {}).get("debug"))


def _print_traceback() -> None:
    import traceback

    from journey_sql.redact import scrub

    click.echo(scrub(traceback.format_exc()), err=True, nl=False)


@click.group(cls=JourneyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="journey-sql")
@click.option(
    "--debug",
    is_flag=True,
    envvar=_env("debug"),
    help="On an unexpected error, print the traceback (secrets masked) instead of one line.",
)
@click.pass_context
@friendly_errors
def cli(ctx: click.Context, debug: bool) -> None:
    """Customer-journey tables from RudderStack tracks, the same on every warehouse.

    Options can also come from JOURNEY_SQL_<OPTION> environment variables and a
    journey-sql.toml file in the working directory (flags win over the
    environment, the environment over the file).
    """
    from journey_sql.config import default_map, load_config

    assert isinstance(ctx.command, click.Group)
    ctx.obj = {"debug": debug}
    ctx.default_map = default_map(ctx.command.commands, load_config())


@cli.command()
@click.option("--dialect", envvar=_env("dialect"), default="duckdb", show_default=True, help="Target SQL dialect.")
@click.option("--stage", "stages", multiple=True, help="Print only this stage (repeatable). [default: all]")
@click.option(
    "--incremental",
    is_flag=True,
    help="Print the incremental build instead: it reads its watermark from the schema's jsql_state, so it can be "
    "scheduled as is after one full build.",
)
@pipeline_options
@friendly_errors
def render(dialect: str, stages: tuple[str, ...], incremental: bool, **kwargs: Any) -> None:
    """Print the DDL for all stages (or one), ready to paste or pipe into a warehouse console."""
    from journey_sql.render import render_script
    from journey_sql.stages import get_stage

    settings = _settings(kwargs)
    names = [get_stage(s).name for s in stages] or None
    _echo(render_script(settings, dialect, names, incremental=incremental), nl=False)


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
@click.option(
    "--full-refresh",
    is_flag=True,
    help="Rebuild every table from the whole source, even where the last build could be continued incrementally.",
)
@click.option(
    "--verbose",
    is_flag=True,
    help="Print every step's line, also when an incremental build finds nothing new (one line by default).",
)
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
    full_refresh: bool,
    verbose: bool,
    threads: int | None,
    memory_limit: str | None,
    **kwargs: Any,
) -> None:
    """Build the eight tables on a connection, in order; stage timings go to stderr."""
    from journey_sql.config import load_config, option_value
    from journey_sql.engines import connect
    from journey_sql.executor import closing_engine, dry_run_pipeline, run_pipeline
    from journey_sql.redact import scrub
    from journey_sql.targets import resolve

    chosen = resolve(connection, _explicit(ctx, "connection"), target, profile, load_config())
    for key, value in chosen.defaults.items():
        if key in kwargs and not _explicit(ctx, key):
            kwargs[key] = option_value(key, value)
            ctx.meta.setdefault(ORIGINS, {})[key] = f"{key} in {chosen.origin}"
    settings = _settings(kwargs)
    # reading event files, the DuckDB file only receives the tables: it may be new
    reads_files = any(t.path is not None for t in settings.sources.tables)
    if reads_files:
        from journey_sql.sources import check_local_files

        for table in settings.sources.tables:
            check_local_files(table.path or "")
    engine = connect(chosen.url, secrets=chosen.secrets, threads=threads, memory_limit=memory_limit, create=reads_files)
    progress = _Progress(verbose)
    uncounted: list[Any] = []
    with closing_engine(engine):
        if dry_run:
            mode, estimates = dry_run_pipeline(engine, settings, full_refresh)
        else:
            report = run_pipeline(
                engine,
                settings,
                echo=progress,
                explain=(lambda text: _echo(scrub(text))) if explain else None,
                full_refresh=full_refresh,
            )
            uncounted = _uncounted_events(engine, settings)
    if dry_run:
        _echo(f"{mode} build")
        for stage, scanned in estimates:
            _echo(
                f"{stage:<22} "
                f"{'unknown until its inputs exist (built earlier in the run)' if scanned is None else f'{scanned:,} bytes'}"
            )
        _echo(f"{'total':<22} {sum(b or 0 for _, b in estimates):,} bytes (known stages)")
        return
    for line in summary_lines(report, settings.schema, nothing_changed=progress.nothing_changed):
        _stderr(line)
    if uncounted:
        from journey_sql.analysis import describe_missing

        _stderr(
            f"warning: --count-event counted zero: {describe_missing(uncounted, settings)} The tables were built; "
            "a count of zero is right if the event has not happened yet."
        )


class _Progress:
    """apply's progress lines on stderr as they come, except an incremental build's while it has changed nothing
    yet: those wait, and are dropped if the whole build changes nothing (one summary line says so). --verbose
    prints every line as it comes."""

    def __init__(self, verbose: bool) -> None:
        self.verbose = verbose
        self.held: list[str] | None = None  # lines waiting for the incremental build to change something

    def __call__(self, line: str) -> None:
        if not self.verbose and getattr(line, "mode", None) == "incremental":
            self.held = [line]
            return
        if self.held is not None:
            kind, rows = getattr(line, "kind", None), getattr(line, "rows", None)
            if kind is not None and (kind == "state" or not rows):  # (the state is written every run)
                self.held.append(line)
                return
            for waiting in self.held:
                _stderr(waiting)
            self.held = None
        _stderr(line)

    @property
    def nothing_changed(self) -> bool:
        return self.held is not None


def _uncounted_events(engine: Any, settings: Settings) -> list[Any]:
    """The --count-event names that occur nowhere (to warn about); a failed check is reported, the build stands."""
    from journey_sql.analysis import uncounted_events

    try:
        return uncounted_events(engine, settings)
    except JourneyError as err:
        _stderr(f"warning: the tables were built, but checking the --count-event names failed: {err}")
        return []


def summary_lines(report: Any, schema: str, nothing_changed: bool = False) -> list[str]:
    """What apply says after a run: counts, events left out by reason, and a warning when nothing was placed.

    An incremental build that changed nothing says so in one line (and what it checked)."""
    src = report.source
    lines = []
    if report.mode == "incremental" and nothing_changed:
        lines.append(
            f"incremental build: nothing new, no table changed: {_count(report.window_rows or 0, 'source row')} "
            f"checked ({report.reason}), all built before; {_count(report.events, 'event')} in {schema}. "
            "--verbose shows each step."
        )
    elif report.mode == "incremental":
        lines.append(
            f"incremental build: read {report.window_rows:,} source rows received in the lookback window, "
            f"{report.new_rows:,} of them new; rebuilt {report.visitors_rebuilt:,} visitors."
        )
    if report.missed_rows:
        lines.append(
            f"warning: {report.missed_rows:,} source rows were never processed: they arrived later than the "
            "lookback allows. Run `journey-sql apply --full-refresh` to include them, and raise --lookback."
        )
    if nothing_changed and report.mode == "incremental":
        return lines
    lines += [
        (
            f"read {_count(src.rows, 'source row')}: {_count(src.duplicate_deliveries, 'duplicate delivery')} "
            f"dropped, {_count(report.events_left_out, 'event')} left out "
            f"({_count(src.rows_without_id, 'row')} without an id, "
            f"{src.events_without_timestamp:,} without a usable timestamp (NULL or infinite), "
            f"{src.events_without_identity:,} with neither user_id nor anonymous_id), "
            f"{_count(report.events, 'event')} placed in {schema}."
        )
    ]
    if report.events == 0:
        lines.append(
            "warning: no events were placed, so the tables are empty. "
            "Check that --source-schema/--source-table name your RudderStack tracks table and that it has rows "
            "with an id, a timestamp and a user_id or anonymous_id."
        )
    return lines


def _count(n: int, noun: str) -> str:
    """'1 event', '2 events', '1 duplicate delivery', '3 duplicate deliveries'."""
    if n == 1:
        return f"1 {noun}"
    return f"{n:,} {noun[:-1] + 'ies' if noun.endswith('y') else noun + 's'}"


@cli.command()
@click.option("--events", type=click.IntRange(min=1), default=100_000, show_default=True, help="Events to generate.")
@click.option("--seed", type=int, default=42, show_default=True, help="Random seed for the sample data.")
@click.option(
    "--database",
    default="journey.duckdb",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="DuckDB file to create, or one an earlier demo made. A file holding other tables is refused.",
)
@click.option(
    "--force", is_flag=True, help="Replace the source table and the eight tables even in a file the demo did not make."
)
@pipeline_options
@duckdb_options
@friendly_errors
def demo(
    events: int, seed: int, database: str, force: bool, threads: int | None, memory_limit: str | None, **kwargs: Any
) -> None:
    """Generate realistic sample RudderStack tracks in DuckDB, build every table, and summarise them."""
    from journey_sql.cli_format import print_demo_summary
    from journey_sql.demo import run_demo

    settings = _settings(kwargs)
    report, summary = run_demo(
        database, events, seed, settings, threads=threads, memory_limit=memory_limit, echo=_stderr, force=force
    )
    print_demo_summary(summary, report, database, settings)


@cli.command("dbt")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder to write the dbt project to.")
@click.option("--dialect", envvar=_env("dialect"), default="duckdb", show_default=True, help="Target SQL dialect.")
@click.option(
    "--dbt-profile", default="journey_sql", show_default=True, help="The profiles.yml profile dbt_project.yml names."
)
@click.option("--force", is_flag=True, help="Replace the files an earlier `journey-sql dbt` wrote in --out.")
@pipeline_options
@click.pass_context
@friendly_errors
def dbt(ctx: click.Context, out: str, dialect: str, dbt_profile: str, force: bool, **kwargs: Any) -> None:
    """Write the tables as a dbt project: one model a table, sources, docs and tests, built with `dbt build`.

    The tables go to the dbt profile's target schema; --schema makes it a dbt custom schema
    (docs/dbt.md).
    """
    from journey_sql.dbt import command_line, write_project

    # --schema becomes a dbt custom schema (dbt's generate_schema_name); the target schema is the profile's
    custom_schema = kwargs["schema"] or None
    settings = _settings(kwargs)
    written = write_project(
        settings,
        dialect,
        out,
        profile=dbt_profile,
        force=force,
        command=command_line(_given_options(ctx, leave_out=("force",))),
        custom_schema=custom_schema,
    )
    how = "continues incrementally" if written.incremental else "rebuilds every table"
    _stderr(
        f"wrote a dbt project ({len(written.files)} files, adapter {written.adapter}) to {written.out}: "
        f"`dbt build --project-dir {written.out}` builds and tests the tables; each later `dbt run` {how}."
    )


@cli.command()
def dialects() -> None:
    """List the SQL dialects `render --dialect` accepts."""
    from journey_sql.dialects import DIALECTS

    for name in DIALECTS:
        _echo(name)


def _explicit(ctx: click.Context, name: str) -> bool:
    """Whether an option was given as a flag or environment variable (rather than by a file or default)."""
    source = ctx.get_parameter_source(name)
    return source in (click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT)


def _given_options(ctx: click.Context, leave_out: tuple[str, ...] = ()) -> list[str]:
    """The options given as flags or environment variables, as the flags that give them again."""
    args: list[str] = []
    for param in ctx.command.params:
        if not isinstance(param, click.Option) or param.name in leave_out or not _explicit(ctx, str(param.name)):
            continue
        flag = max(param.opts, key=len)
        value = ctx.params[str(param.name)]
        if param.is_flag:
            args += [flag] if value else []
        else:
            for item in value if param.multiple else [value]:
                args += [flag, f"{item:g}" if isinstance(item, float) else str(item)]
    return args


def _stderr(line: str) -> None:
    _echo(line, err=True)


def _echo(text: str, err: bool = False, nl: bool = True) -> None:
    """click.echo, except that a reader who has gone away (a closed pipe) is no error: the run goes on and what
    it writes to that stream from then on is dropped, so a build never depends on anyone reading its progress."""
    import sys

    try:
        click.echo(text, err=err, nl=nl)
    except BrokenPipeError:
        from journey_sql.cli_format import drop_closed_stream

        drop_closed_stream(sys.stderr if err else sys.stdout)


def _add_answer_commands() -> None:
    from journey_sql.cli_answers import COMMANDS

    for command in COMMANDS:
        cli.add_command(command)


_add_answer_commands()


def main() -> None:
    import sys

    try:
        cli(prog_name="journey-sql")
    except BrokenPipeError:  # click could not print its own error: the stream had no reader left
        from journey_sql.cli_format import drop_closed_stream

        drop_closed_stream(sys.stdout)
        drop_closed_stream(sys.stderr)
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
