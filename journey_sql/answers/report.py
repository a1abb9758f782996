"""`journey-sql report`: one self-contained HTML file from the built tables.

Every number is computed in the warehouse by a template in the canonical
dialect (templates/report_*.sql.j2, paths.sql.j2, funnel.sql.j2); only
aggregates come back. The page inlines plotly.js, so it opens offline.
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from journey_sql import __version__
from journey_sql.answers.figures import (
    FONT,
    SANKEY_PATHS,
    SANKEY_STEPS,
    durations_figure,
    funnel_figure,
    per_day_figure,
    sankey_figure,
    top_visitors_figure,
)
from journey_sql.answers.funnel import FunnelResult, funnel
from journey_sql.answers.paths import PathsResult, top_paths
from journey_sql.answers.queries import render_query, run_query
from journey_sql.core.errors import JourneyError
from journey_sql.settings.options import Settings

GENERATOR = f"journey-sql {__version__}"
TOP_VISITORS = 10
# session-duration buckets: (previous, bound] minutes; 0 is a session of one instant
DURATION_BOUNDS = (1, 2, 5, 10, 15, 20, 30, 45, 60, 120)


@dataclass
class ReportData:
    schema: str
    engine: str
    events: int
    visitors: int
    sessions: int
    average_minutes: float | None
    single_event_sessions: int
    first_session_at: Any
    last_session_at: Any
    paths: PathsResult
    sessions_per_day: list[tuple[Any, int]]
    durations: list[tuple[str, int]]  # (bucket label, sessions), in bucket order
    top_visitors: list[tuple[str, float, int]]  # (visitor, average minutes, sessions)
    funnel: FunnelResult | None = None
    seconds: float = 0.0
    generated_at: str = field(default_factory=lambda: datetime.now().strftime("%Y-%m-%d %H:%M"))


def duration_labels() -> list[str]:
    labels = ["0 (one instant)"]
    previous = 0
    for bound in DURATION_BOUNDS:
        labels.append(f"{previous}–{bound}")
        previous = bound
    labels.append(f"> {previous}")
    return labels


def build_report(
    engine: Any, settings: Settings, funnel_steps: list[str] | None = None, by: str = "session"
) -> ReportData:
    """Run the report's queries on `engine` and collect the aggregates."""
    started = time.perf_counter()
    dialect = engine.dialect

    def rows(template: str, what: str, **context: Any) -> list[tuple[Any, ...]]:
        return run_query(engine, render_query(template, settings, dialect, {}, **context), what, settings)

    (overview,) = rows("report_overview.sql.j2", "report overview")
    events, visitors, sessions, average, single, first, last = overview
    per_day = sorted((_day(d), int(n)) for d, n in rows("report_sessions_per_day.sql.j2", "sessions per day"))
    buckets = {int(b): int(n) for b, n in rows("report_durations.sql.j2", "session durations", bounds=DURATION_BOUNDS)}
    labels = duration_labels()
    visitors_rows = rows("report_top_visitors.sql.j2", "top visitors", top=TOP_VISITORS)
    top = sorted(((str(v), float(a), int(n)) for v, a, n in visitors_rows), key=lambda r: (-r[1], -r[2], r[0]))
    return ReportData(
        schema=settings.schema,
        engine=engine.describe(),
        events=int(events or 0),
        visitors=int(visitors or 0),
        sessions=int(sessions or 0),
        average_minutes=None if average is None else float(average),
        single_event_sessions=int(single or 0),
        first_session_at=first,
        last_session_at=last,
        paths=top_paths(engine, settings, steps=SANKEY_STEPS, top=SANKEY_PATHS),
        sessions_per_day=per_day,
        durations=[(label, buckets.get(i, 0)) for i, label in enumerate(labels)],
        top_visitors=top[:TOP_VISITORS],
        funnel=funnel(engine, settings, funnel_steps, by) if funnel_steps else None,
        seconds=time.perf_counter() - started,
    )


def _day(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


# -- charts -------------------------------------------------------------------------


# -- page ------------------------------------------------------------------------------

CSS = """
body { font-family: FONT; color: #222; margin: 0; background: #f6f7f9; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 32px 48px; }
h1 { font-size: 26px; margin: 8px 0 4px; }
.sub { color: #666; margin: 0 0 20px; font-size: 14px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap: 12px; margin-bottom: 20px; }
.card { background: white; border-radius: 8px; padding: 14px 16px; box-shadow: 0 1px 2px rgba(0,0,0,.08); }
.card .value { font-size: 24px; font-weight: 600; }
.card .label { color: #666; font-size: 13px; margin-top: 2px; }
section { background: white; border-radius: 8px; padding: 16px 20px 8px; margin-bottom: 18px;
          box-shadow: 0 1px 2px rgba(0,0,0,.08); }
h2 { font-size: 18px; margin: 0 0 4px; }
p.explain { color: #555; margin: 0 0 8px; font-size: 14px; }
footer { color: #888; font-size: 12px; margin-top: 24px; }
""".replace("FONT", FONT)


def _fmt_time(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return "" if value is None else str(value)[:16]


def _figure_html(figure: Any, div_id: str) -> str:
    return figure.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=div_id,
        config={"displaylogo": False, "responsive": True, "displayModeBar": False},
    )


def render_html(data: ReportData) -> str:
    from plotly.offline import get_plotlyjs

    e = html.escape
    share_single = data.single_event_sessions / data.sessions if data.sessions else 0
    cards = [
        (f"{data.events:,}", "events"),
        (f"{data.visitors:,}", "visitors (after identity stitching)"),
        (f"{data.sessions:,}", "sessions"),
        (f"{data.sessions / data.visitors:.2f}" if data.visitors else "–", "sessions per visitor"),
        (f"{data.events / data.sessions:.1f}" if data.sessions else "–", "events per session"),
        (f"{data.average_minutes:.1f} min" if data.average_minutes is not None else "–", "average session duration"),
    ]
    paths = data.paths
    covered = sum(p.sessions for p in paths.paths)
    sections = [
        (
            "sankey",
            f"Top paths from session start (first {paths.steps} events)",
            f"The {len(paths.paths)} most common {paths.steps}-event paths, {covered:,} of {paths.total_sessions:,} "
            f"sessions ({covered / paths.total_sessions:.0%}) — each session counted once. "
            "“(end)” means the session ended there. Hover a band for its count."
            if paths.total_sessions
            else "No sessions yet.",
            sankey_figure(paths),
        )
    ]
    if data.funnel is not None:
        unit = data.funnel.by + "s"
        sections.append(
            (
                "funnel",
                f"Funnel by {data.funnel.by}",
                f"How many {unit} did each step after the ones before it, in order but not necessarily in a row"
                + (" (across each visitor's whole history)" if data.funnel.by == "visitor" else " (within one session)")
                + f", out of {data.funnel.total_units:,} {unit}.",
                funnel_figure(data.funnel),
            )
        )
    sections += [
        (
            "sessions-per-day",
            "Sessions per day",
            "Sessions by the day they started (UTC for timestamps without a time zone).",
            per_day_figure(data.sessions_per_day),
        ),
        (
            "durations",
            "How long sessions last",
            (
                f"Minutes from a session's first to its last event. {share_single:.0%} of sessions are a single "
                "instant (one event, or several at the same time), shown in grey."
            ),
            durations_figure(data.durations),
        ),
        (
            "top-visitors",
            f"Top {len(data.top_visitors)} visitors by average session duration",
            "The seed project's analysis: each visitor's mean session duration, with their number of sessions.",
            top_visitors_figure(data.top_visitors),
        ),
    ]
    body = "\n".join(
        f'<section id="section-{div_id}"><h2>{e(title)}</h2><p class="explain">{e(explain)}</p>'
        f"{_figure_html(figure, div_id)}</section>"
        for div_id, title, explain, figure in sections
    )
    card_html = "".join(
        f'<div class="card"><div class="value">{e(v)}</div><div class="label">{e(label)}</div></div>'
        for v, label in cards
    )
    period = f"{_fmt_time(data.first_session_at)} to {_fmt_time(data.last_session_at)}"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="generator" content="{e(GENERATOR)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Customer journeys — {e(data.schema)}</title>
<style>{CSS}</style>
<script>{get_plotlyjs()}</script>
</head>
<body>
<main>
<h1>Customer journeys</h1>
<p class="sub">Schema <b>{e(data.schema)}</b> on {e(data.engine)} · sessions starting {e(period)}</p>
<div class="cards">{card_html}</div>
{body}
<footer>Generated {e(data.generated_at)} by {e(GENERATOR)} in {data.seconds:.1f} s.
The queries ran in the warehouse; this file holds only aggregates and needs no network.</footer>
</main>
</body>
</html>
"""


def write_report(data: ReportData, output: str | Path) -> int:
    """Write the page; refuse to replace a file that journey-sql did not write. Returns its size in bytes."""
    path = Path(output)
    if path.exists():
        try:
            head = path.read_bytes()[:4096].decode("utf-8", "replace")
        except OSError as err:
            raise JourneyError(f"Cannot read {path} to check it before replacing it: {err.strerror}.") from None
        if '<meta name="generator" content="journey-sql' not in head:
            raise JourneyError(
                f"{path} exists and was not written by journey-sql; it was left alone. "
                "Choose another --output or move that file."
            )
    text = render_html(data)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as err:
        raise JourneyError(f"Cannot write the report to {path}: {err.strerror}.") from None
    return len(text.encode("utf-8"))
