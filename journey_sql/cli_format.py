"""Terminal presentation for the CLI: rich tables and messages, built from what library calls return.

Presentation only: nothing here queries a database or changes a file.
"""

from __future__ import annotations

import os
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from journey_sql.executor import RunReport
    from journey_sql.settings import Settings


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

    from journey_sql.formats import format_paths

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
