"""`journey-sql demo`: sample tracks in a DuckDB file of its own, the whole pipeline, and a summary.

The sample data comes from journey_sql.demo.data; the pipeline runs through
`run_pipeline`, the same library call as `apply`; the CLI formats the summary
(journey_sql.cli.output). This module holds only what is the demo's own: which
files it may write, and what it measures afterwards.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from journey_sql.compile.templates import Relations
from journey_sql.core.errors import ConfigError, InterruptedRun, is_interrupt
from journey_sql.demo.data import DEMO_MARKER, generate
from journey_sql.dialects.dialect import get_dialect
from journey_sql.run.pipeline import run_pipeline
from journey_sql.run.results import Echo, RunReport
from journey_sql.settings.options import Settings

# The funnel the demo's report shows: the shop's scripts in data.FUNNELS lead there.
DEMO_FUNNEL = ["Product Viewed", "Product Added", "Checkout Started", "Order Completed"]
REPORT_FILE = "journey-report.html"


def check_demo_may_write(con: Any, database: str, settings: Settings, force: bool = False) -> list[str]:
    """Refuse a database holding tables the demo did not make: the demo never touches a user's data.

    A file is the demo's own when its tables and views include one the demo generated
    (marked with DEMO_MARKER) and the source table to fill is that one or absent.
    An empty database is fine too. Anything else is left untouched unless --force.
    Returns the tables and views the demo leaves as they are (neither its source nor
    a table it builds in --schema), which a file of its own may hold too.
    """
    rows = con.execute(
        "SELECT schema_name, table_name, comment FROM duckdb_tables() WHERE database_name = current_database() "
        "UNION ALL SELECT schema_name, view_name, comment FROM duckdb_views() "
        "WHERE database_name = current_database() AND NOT internal ORDER BY 1, 2"
    ).fetchall()
    if not rows:
        return []
    names = {(s.lower(), t.lower()): comment for s, t, comment in rows}
    source = (settings.source_schema.lower(), settings.source_table.lower())
    built = {(settings.schema.lower(), name.lower()) for name in Relations.for_settings(settings).tables}
    kept = [f"{s}.{t}" for s, t, _ in rows if (s.lower(), t.lower()) != source and (s.lower(), t.lower()) not in built]
    ours = any(comment == DEMO_MARKER for comment in names.values())
    if force or (ours and names.get(source, DEMO_MARKER) == DEMO_MARKER):
        return kept
    theirs = next((f"{s}.{t}" for s, t, c in rows if c != DEMO_MARKER and (s.lower(), t.lower()) == source), None)
    example = theirs or f"{rows[0][0]}.{rows[0][1]}"
    raise ConfigError(
        f"{database} already holds tables journey-sql demo did not create (such as {example}), so the demo left "
        "it untouched. Give the demo a new file with --database demo.duckdb, or add --force to replace "
        f"{settings.source_schema}.{settings.source_table} and the tables in {settings.schema} there."
    )


def summarise(con: Any, settings: Settings) -> dict[str, Any]:
    s = settings.schema
    events, visitors = con.execute(
        f"SELECT COUNT(*), COUNT(DISTINCT dbt_visitor_id) FROM {s}.dbt_mapped_tracks"
    ).fetchone()
    sessions, median_minutes, median_events = con.execute(
        f"""
        SELECT COUNT(*), median(minutes), median(n) FROM (
          SELECT (epoch_us(max(timestamp)) - epoch_us(min(timestamp))) / 60e6 AS minutes, COUNT(*) AS n
          FROM {s}.dbt_track_facts GROUP BY session_id)
        """
    ).fetchone()
    return {
        "events": events,
        "visitors": visitors,
        "sessions": sessions,
        "median_session_minutes": median_minutes,
        "median_events_per_session": median_events,
    }


def run_demo(
    database: str,
    events: int,
    seed: int,
    settings: Settings,
    threads: int | None = None,
    memory_limit: str | None = None,
    echo: Echo = lambda _: None,
    force: bool = False,
) -> tuple[RunReport, dict[str, Any]]:
    """Generate the sample source and build the tables in one transaction: an interrupted or failed demo leaves
    the file as it was (a file it created is removed), a finished one the new source and tables together."""
    from journey_sql.answers.paths import top_paths
    from journey_sql.answers.report import build_report, write_report
    from journey_sql.compile.templates import check_names
    from journey_sql.engines.connection import connect

    source = settings.sources
    if len(source.tables) != 1 or not source.tables[0].is_identity:
        raise ConfigError(
            "demo generates one RudderStack tracks table; --layout, --column, --source-path and several "
            "--source-table apply to `journey-sql apply`."
        )
    check_names(settings, get_dialect("duckdb"))
    file = Path(database).expanduser()
    created = not file.exists()
    engine = connect(f"duckdb:///{database}", threads=threads, memory_limit=memory_limit, create=True)
    report_path = Path(database).resolve().parent / REPORT_FILE
    table = f"{settings.source_schema}.{settings.source_table}"
    built = False
    try:
        con = engine.con  # type: ignore[attr-defined]
        kept = check_demo_may_write(con, database, settings, force)
        if kept:
            shown = ", ".join(kept[:3]) + (f" and {len(kept) - 3} more" if len(kept) > 3 else "")
            echo(
                f"{database} holds other tables: the demo replaces {table} and the tables it builds in "
                f"{settings.schema}, and leaves the other {len(kept)} as they are ({shown})"
            )
        had_source = _has_table(con, settings.source_schema, settings.source_table)
        echo(f"generating {events:,} sample events in {database} ({table})")
        try:
            engine.begin()
            generate(con, events, seed, settings.source_schema, settings.source_table)
            report = run_pipeline(
                engine, settings, echo=echo, full_refresh="the demo generated new sample data", begun=True
            )
            engine.commit()
        except BaseException as err:
            with contextlib.suppress(Exception):
                engine.rollback()
            if isinstance(err, KeyboardInterrupt | InterruptedRun) or is_interrupt(err):
                before = f"its previous {table} and tables" if had_source else "no sample data"
                left = "removed" if created else f"left with {before}"
                raise InterruptedRun(
                    f"Interrupted (Ctrl-C): the demo was rolled back before it committed, so {database} was {left}; "
                    "nothing was half written. Run the demo again to finish."
                ) from None
            raise
        built = True
        try:
            summary = summarise(con, settings)
            summary["paths"] = top_paths(engine, settings, steps=5, top=10)
            data = build_report(engine, settings, DEMO_FUNNEL)
        except KeyboardInterrupt:
            raise InterruptedRun(
                f"Interrupted (Ctrl-C) after the demo committed: {database} holds the new {table} and the tables "
                f"in {settings.schema}; the summary was not printed and {report_path.name} not written."
            ) from None
    finally:
        engine.close()
        if created and not built:  # the demo's own new file, rolled back: leave nothing behind
            for leftover in (file, file.with_name(file.name + ".wal")):
                with contextlib.suppress(OSError):
                    leftover.unlink()
    summary["report_bytes"] = write_report(data, report_path)
    summary["report"] = str(report_path)
    return report, summary


def _has_table(con: Any, schema: str, table: str) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
            "AND lower(schema_name) = lower(?) AND lower(table_name) = lower(?)",
            [schema, table],
        ).fetchone()[0]
    )
