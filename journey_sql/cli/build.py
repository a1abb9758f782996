"""The commands that build: render (print the SQL), apply (run it), demo, dbt (write a dbt project), dialects."""

from __future__ import annotations

from typing import Any

import click

from journey_sql import api
from journey_sql.api import DEFAULT_CONNECTION, JourneyError, Settings
from journey_sql.cli.errors import friendly_errors
from journey_sql.cli.options import (
    ORIGINS,
    duckdb_options,
    env,
    explicit,
    given_options,
    pipeline_options,
    settings_from,
)
from journey_sql.cli.output import Progress, echo, stderr, summary_lines


@click.command()
@click.option("--dialect", envvar=env("dialect"), default="duckdb", show_default=True, help="Target SQL dialect.")
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

    settings = settings_from(kwargs)
    echo(api.render(settings, dialect, stages, incremental=incremental), nl=False)


@click.command()
@click.option(
    "--connection",
    envvar=env("connection"),
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
    chosen = api.where_to_connect(connection, explicit(ctx, "connection"), target, profile)
    for key, value in chosen.defaults.items():
        if key in kwargs and not explicit(ctx, key):
            kwargs[key] = api.option_value(key, value)
            ctx.meta.setdefault(ORIGINS, {})[key] = f"{key} in {chosen.origin}"
    settings = settings_from(kwargs)
    # reading event files, the DuckDB file only receives the tables: it may be new
    reads_files = api.check_event_files(settings)
    engine = api.connect(
        chosen.url, secrets=chosen.secrets, threads=threads, memory_limit=memory_limit, create=reads_files
    )
    progress = Progress(verbose)
    uncounted: list[Any] = []
    with api.closing_engine(engine):
        if dry_run:
            mode, estimates = api.dry_run(engine, settings, full_refresh)
        else:
            report = api.apply(
                engine,
                settings,
                echo=progress,
                explain=(lambda text: echo(api.scrub(text))) if explain else None,
                full_refresh=full_refresh,
            )
            uncounted = _uncounted_events(engine, settings)
    if dry_run:
        echo(f"{mode} build")
        for stage, scanned in estimates:
            echo(
                f"{stage:<22} "
                f"{'unknown until its inputs exist (built earlier in the run)' if scanned is None else f'{scanned:,} bytes'}"
            )
        echo(f"{'total':<22} {sum(b or 0 for _, b in estimates):,} bytes (known stages)")
        return
    for line in summary_lines(report, settings.schema, nothing_changed=progress.nothing_changed):
        stderr(line)
    if uncounted:
        stderr(
            f"warning: --count-event counted zero: {api.describe_missing(uncounted, settings)} The tables were built; "
            "a count of zero is right if the event has not happened yet."
        )


def _uncounted_events(engine: Any, settings: Settings) -> list[Any]:
    """The --count-event names that occur nowhere (to warn about); a failed check is reported, the build stands."""
    try:
        return api.uncounted_events(engine, settings)
    except JourneyError as err:
        stderr(f"warning: the tables were built, but checking the --count-event names failed: {err}")
        return []


@click.command()
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
    from journey_sql.cli.output import print_demo_summary

    settings = settings_from(kwargs)
    report, summary = api.run_demo(
        database, events, seed, settings, threads=threads, memory_limit=memory_limit, echo=stderr, force=force
    )
    print_demo_summary(summary, report, database, settings)


@click.command("dbt")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder to write the dbt project to.")
@click.option("--dialect", envvar=env("dialect"), default="duckdb", show_default=True, help="Target SQL dialect.")
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
    # --schema becomes a dbt custom schema (dbt's generate_schema_name); the target schema is the profile's
    custom_schema = kwargs["schema"] or None
    settings = settings_from(kwargs)
    written = api.write_dbt_project(
        settings,
        dialect,
        out,
        profile=dbt_profile,
        force=force,
        command=api.command_line(given_options(ctx, leave_out=("force",))),
        custom_schema=custom_schema,
    )
    how = "continues incrementally" if written.incremental else "rebuilds every table"
    stderr(
        f"wrote a dbt project ({len(written.files)} files, adapter {written.adapter}) to {written.out}: "
        f"`dbt build --project-dir {written.out}` builds and tests the tables; each later `dbt run` {how}."
    )


@click.command()
def dialects() -> None:
    """List the SQL dialects `render --dialect` accepts."""
    for name in api.dialects():
        echo(name)


COMMANDS = (render, apply, demo, dbt, dialects)
