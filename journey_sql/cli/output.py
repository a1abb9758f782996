"""Terminal presentation: what the commands print, built from what the library returns.

Presentation only: nothing here queries a database or changes a file.
"""

from __future__ import annotations

import os
from typing import IO, TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from journey_sql.api import RunReport, Settings


def drop_closed_stream(stream: IO[str]) -> None:
    """After a write to `stream` found its reader gone (EPIPE: `journey-sql apply 2>&1 | head -1`), send what is
    written to it from now on, and what its buffer still holds, nowhere: no reader is no reason to stop a run."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, stream.fileno())
        finally:
            os.close(devnull)
    except (OSError, ValueError, AttributeError):  # not a file (a test's buffer), or already closed
        pass


def print_demo_summary(summary: dict[str, Any], report: RunReport, database: str, settings: Settings) -> None:
    """What `journey-sql demo` prints after a run: counts, the top paths, where the tables and report are."""
    from rich.console import Console
    from rich.table import Table

    from journey_sql.api import format_paths

    class _Console(Console):
        def on_broken_pipe(self) -> None:  # rich exits 1 here; the demo has built its tables: just stop printing
            self.quiet = True
            drop_closed_stream(self.file)

    console = _Console()
    overview = Table(title=f"journey-sql demo: {database}", show_header=False)
    overview.add_column(style="bold")
    overview.add_column(justify="right")
    src = report.source
    overview.add_row("source rows", f"{src.rows:,}")
    overview.add_row("duplicate deliveries dropped", f"{src.duplicate_deliveries:,}")
    overview.add_row("events left out (no id, timestamp or identity)", f"{report.events_left_out:,}")
    overview.add_row("events", f"{summary['events']:,}")
    overview.add_row("visitors", f"{summary['visitors']:,}")
    overview.add_row(f"sessions ({settings.session_timeout:g} min timeout)", f"{summary['sessions']:,}")
    overview.add_row("median session length", f"{summary['median_session_minutes'] or 0:.1f} min")
    overview.add_row("median events per session", f"{summary['median_events_per_session'] or 0:g}")
    console.print(overview)

    # the same paths as `journey-sql paths`: each session once, from its start
    console.print(format_paths(summary["paths"], "table"), soft_wrap=True)
    console.print(
        f"Tables are in {database}, schema {settings.schema}. Look at them with the DuckDB CLI or Python:\n"
        f"  python -c \"import duckdb; duckdb.connect('{database}').sql("
        f"'SELECT * FROM {settings.schema}.dbt_tracks_flow LIMIT 10').show()\"",
        soft_wrap=True,  # a command to copy must stay on one line
    )
    console.print(
        f"The report is {summary['report']} ({summary['report_bytes']:,} bytes): open it in a browser, "
        "it needs no network.",
        soft_wrap=True,
    )


class Progress:
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
                stderr(waiting)
            self.held = None
        stderr(line)

    @property
    def nothing_changed(self) -> bool:
        return self.held is not None


def summary_lines(report: Any, schema: str, nothing_changed: bool = False) -> list[str]:
    """What apply says after a run: counts, events left out by reason, and a warning when nothing was placed.

    An incremental build that changed nothing says so in one line (and what it checked)."""
    src = report.source
    lines = []
    if report.mode == "incremental" and nothing_changed:
        lines.append(
            f"incremental build: nothing new, no table changed: {plural(report.window_rows or 0, 'source row')} "
            f"checked ({report.reason}), all built before; {plural(report.events, 'event')} in {schema}. "
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
            f"read {plural(src.rows, 'source row')}: {plural(src.duplicate_deliveries, 'duplicate delivery')} "
            f"dropped, {plural(report.events_left_out, 'event')} left out "
            f"({plural(src.rows_without_id, 'row')} without an id, "
            f"{src.events_without_timestamp:,} without a usable timestamp (NULL or infinite), "
            f"{src.events_without_identity:,} with neither user_id nor anonymous_id), "
            f"{plural(report.events, 'event')} placed in {schema}."
        )
    ]
    if report.events == 0:
        lines.append(
            "warning: no events were placed, so the tables are empty. "
            "Check that --source-schema/--source-table name your RudderStack tracks table and that it has rows "
            "with an id, a timestamp and a user_id or anonymous_id."
        )
    return lines


def plural(n: int, noun: str) -> str:
    """'1 event', '2 events', '1 duplicate delivery', '3 duplicate deliveries'."""
    if n == 1:
        return f"1 {noun}"
    return f"{n:,} {noun[:-1] + 'ies' if noun.endswith('y') else noun + 's'}"


def stderr(line: str) -> None:
    echo(line, err=True)


def echo(text: str, err: bool = False, nl: bool = True) -> None:
    """click.echo, except that a reader who has gone away (a closed pipe) is no error: the run goes on and what
    it writes to that stream from then on is dropped, so a build never depends on anyone reading its progress."""
    import sys

    try:
        click.echo(text, err=err, nl=nl)
    except BrokenPipeError:
        drop_closed_stream(sys.stderr if err else sys.stdout)
