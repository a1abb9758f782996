"""Paths and funnels as text: a readable table (rich), CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from journey_sql.answers.funnel import FunnelResult
from journey_sql.answers.paths import PathsResult

FORMATS = ("table", "csv", "json")


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


def paths_records(result: PathsResult) -> list[dict[str, Any]]:
    return [
        {
            "rank": rank,
            "steps": list(p.steps),
            "ended": p.ended,
            "path": p.labels(),
            "sessions": p.sessions,
            "share": p.sessions / result.total_sessions if result.total_sessions else None,
        }
        for rank, p in enumerate(result.paths, start=1)
    ]


def format_paths(result: PathsResult, fmt: str) -> str:
    records = paths_records(result)
    if fmt == "json":
        return json.dumps(
            {
                "steps": result.steps,
                "start_event": result.start_event,
                "total_sessions": result.total_sessions,
                "paths": records,
            },
            indent=2,
            ensure_ascii=False,
        )
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        width = result.steps  # a path that ends early has room for its end marker
        writer.writerow(["rank", *(f"step_{k}" for k in range(1, width + 1)), "sessions", "share"])
        for r in records:
            cells = r["path"] + [""] * (width - len(r["path"]))
            writer.writerow([r["rank"], *cells, r["sessions"], "" if r["share"] is None else f"{r['share']:.6f}"])
        return out.getvalue().rstrip("\n")
    return _rich(_paths_table(result, records))


def _paths_table(result: PathsResult, records: list[dict[str, Any]]) -> Any:
    from rich.table import Table

    where = f"from the first {result.start_event!r}" if result.start_event else "from the session's start"
    table = Table(
        title=f"Top {len(records)} {result.steps}-step paths {where}",
        caption=f"{result.total_sessions:,} sessions counted, each once",
    )
    table.add_column("#", justify="right")
    table.add_column("path")
    table.add_column("sessions", justify="right")
    table.add_column("share", justify="right")
    for r in records:
        table.add_row(str(r["rank"]), " → ".join(r["path"]), f"{r['sessions']:,}", _pct(r["share"]))
    return table


def funnel_records(result: FunnelResult) -> list[dict[str, Any]]:
    return [
        {
            "step": s.number,
            "event": s.event,
            result.by + "s": s.units,
            "from_previous": s.from_previous,
            "from_first": s.from_first,
        }
        for s in result.steps
    ]


def format_funnel(result: FunnelResult, fmt: str) -> str:
    records = funnel_records(result)
    unit = result.by + "s"
    if fmt == "json":
        return json.dumps(
            {"by": result.by, "total_" + unit: result.total_units, "steps": records}, indent=2, ensure_ascii=False
        )
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["step", "event", unit, "from_previous", "from_first"])
        for r in records:
            writer.writerow(
                [
                    r["step"],
                    r["event"],
                    r[unit],
                    *("" if r[k] is None else f"{r[k]:.6f}" for k in ("from_previous", "from_first")),
                ]
            )
        return out.getvalue().rstrip("\n")
    from rich.table import Table

    table = Table(
        title=f"Funnel by {result.by}: steps in order, not necessarily consecutive",
        caption=f"of {result.total_units:,} {unit} in all",
    )
    table.add_column("step", justify="right")
    table.add_column("event")
    table.add_column(unit, justify="right")
    table.add_column("from previous", justify="right")
    table.add_column("from first", justify="right")
    for r in records:
        table.add_row(str(r["step"]), r["event"], f"{r[unit]:,}", _pct(r["from_previous"]), _pct(r["from_first"]))
    return _rich(table)


def _rich(renderable: Any) -> str:
    from rich.console import Console

    console = Console(file=io.StringIO(), width=160, color_system=None, soft_wrap=True)
    with console.capture() as capture:
        console.print(renderable)
    return capture.get().rstrip("\n")
