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
from journey_sql.analysis import FunnelResult, PathsResult, funnel, render_query, run_query, top_paths
from journey_sql.errors import JourneyError
from journey_sql.settings import Settings

GENERATOR = f"journey-sql {__version__}"
SANKEY_STEPS = 4
SANKEY_PATHS = 12
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

PALETTE = [
    "#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2",
    "#FF9DA6", "#9D755D", "#BAB0AC", "#EECA3B", "#2F4B7C", "#A05195",
]  # fmt: skip
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"


def _layout(**extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "font": {"family": FONT, "size": 13, "color": "#222"},
        "margin": {"l": 60, "r": 30, "t": 20, "b": 60},
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "height": 380,
    }
    layout.update(extra)
    return layout


def sankey_figure(result: PathsResult) -> Any:
    import plotly.graph_objects as go

    nodes: dict[tuple[int, str], int] = {}
    links: dict[tuple[int, int], int] = {}
    colours: dict[str, str] = {}

    def node(position: int, label: str) -> int:
        if label not in colours:
            colours[label] = "#888888" if label.startswith("(") else PALETTE[len(colours) % len(PALETTE)]
        return nodes.setdefault((position, label), len(nodes))

    for path in result.paths:
        labels = path.labels()
        for k in range(len(labels) - 1):
            key = (node(k, labels[k]), node(k + 1, labels[k + 1]))
            links[key] = links.get(key, 0) + path.sessions
        if len(labels) == 1:
            node(0, labels[0])
    order = sorted(nodes, key=nodes.__getitem__)
    positions = max((p for p, _ in order), default=0) or 1
    x, y = _sankey_positions(order, links, positions)
    figure = go.Figure(
        go.Sankey(
            arrangement="snap",
            node={
                "label": [label for _, label in order],
                "color": [colours[label] for _, label in order],
                # each step in its own column, so "(end)" after step 2 stands in step 3's column
                "x": x,
                "y": y,
                "pad": 14,
                "thickness": 16,
                "line": {"color": "white", "width": 0.5},
                "hovertemplate": "step %{customdata}: %{label}<br>%{value:,} sessions<extra></extra>",
                "customdata": [p + 1 for p, _ in order],
            },
            link={
                "source": [s for s, _ in links],
                "target": [t for _, t in links],
                "value": list(links.values()),
                "color": ["rgba(76,120,168,0.25)"] * len(links),
                "hovertemplate": "%{source.label} → %{target.label}<br>%{value:,} sessions<extra></extra>",
            },
            valueformat=",d",
        )
    )
    figure.update_layout(**_layout(height=520, margin={"l": 20, "r": 20, "t": 40, "b": 30}))
    for p in range(positions + 1):
        figure.add_annotation(
            x=p / positions, y=1.07, xref="paper", yref="paper", showarrow=False, text=f"<b>step {p + 1}</b>",
            font={"size": 12, "color": "#555"},
        )  # fmt: skip
    return figure


def _sankey_positions(
    order: list[tuple[int, str]], links: dict[tuple[int, int], int], positions: int
) -> tuple[list[float], list[float]]:
    """Node centres: x by step; within a step the biggest nodes first, end markers last."""
    flow = [0] * len(order)
    inflow = [0] * len(order)
    for (source, target), value in links.items():
        flow[source] += value
        inflow[target] += value
    size = [max(f, i) for f, i in zip(flow, inflow, strict=True)]
    x = [min(max(p / positions, 0.001), 0.999) for p, _ in order]
    y = [0.5] * len(order)
    for column in range(positions + 1):
        members = [i for i, (p, _) in enumerate(order) if p == column]
        members.sort(key=lambda i: (order[i][1].startswith("("), -size[i], order[i][1]))
        total = sum(size[i] for i in members) or 1
        gap = 0.02
        span = 1 - gap * max(len(members) - 1, 0)
        top = 0.0
        for i in members:
            height = span * size[i] / total
            y[i] = min(max(top + height / 2, 0.001), 0.999)
            top += height + gap
    return x, y


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def funnel_figure(result: FunnelResult) -> Any:
    import plotly.graph_objects as go

    unit = result.by + "s"
    labels = []
    for s in result.steps:
        if s.number == 1:
            stats = f"{_pct(s.units / result.total_units if result.total_units else None)} of all {unit}"
        else:
            stats = f"{_pct(s.from_previous)} of previous · {_pct(s.from_first)} of step 1"
        labels.append(f"<b>{s.number}. {html.escape(s.event)}</b><br><span style='color:#666'>{stats}</span>")
    figure = go.Figure(
        go.Funnel(
            y=labels,
            x=[s.units for s in result.steps],
            texttemplate="%{x:,} " + unit,
            textposition="inside",
            marker={"color": PALETTE[0]},
            connector={"fillcolor": "#dde6f0"},
            hovertemplate="%{x:,} " + unit + "<extra></extra>",
        )
    )
    figure.update_layout(**_layout(height=110 + 70 * len(labels), margin={"l": 260, "r": 30, "t": 10, "b": 30}))
    figure.update_yaxes(automargin=True)
    return figure


def per_day_figure(per_day: list[tuple[date, int]]) -> Any:
    import plotly.graph_objects as go

    figure = go.Figure(
        go.Bar(
            x=[d.isoformat() for d, _ in per_day],
            y=[n for _, n in per_day],
            marker={"color": PALETTE[0]},
            hovertemplate="%{x}<br>%{y:,} sessions<extra></extra>",
        )
    )
    figure.update_layout(
        **_layout(
            xaxis={"title": {"text": "day the session started"}, "type": "date", "gridcolor": "#eee"},
            yaxis={"title": {"text": "sessions"}, "gridcolor": "#eee", "rangemode": "tozero"},
            bargap=0.15,
        )
    )
    return figure


def durations_figure(durations: list[tuple[str, int]]) -> Any:
    import plotly.graph_objects as go

    figure = go.Figure(
        go.Bar(
            x=[label for label, _ in durations],
            y=[n for _, n in durations],
            text=[f"{n:,}" for _, n in durations],
            textposition="outside",
            cliponaxis=False,
            marker={"color": ["#A9A9A9"] + [PALETTE[0]] * (len(durations) - 1)},
            hovertemplate="%{x} minutes<br>%{y:,} sessions<extra></extra>",
        )
    )
    figure.update_layout(
        **_layout(
            xaxis={"title": {"text": "session duration, minutes (first to last event)"}, "type": "category"},
            yaxis={"title": {"text": "sessions"}, "gridcolor": "#eee", "rangemode": "tozero"},
        )
    )
    return figure


def top_visitors_figure(top: list[tuple[str, float, int]]) -> Any:
    import plotly.graph_objects as go

    rows = list(reversed(top))  # the longest at the top
    figure = go.Figure(
        go.Bar(
            orientation="h",
            y=[v for v, _, _ in rows],
            x=[a for _, a, _ in rows],
            text=[f"{a:.1f} min over {n:,} session{'s' if n != 1 else ''}" for _, a, n in rows],
            textposition="auto",
            marker={"color": PALETTE[2]},
            hovertemplate="%{y}<br>%{x:.2f} minutes on average<extra></extra>",
        )
    )
    figure.update_layout(
        **_layout(
            height=120 + 34 * max(len(rows), 1),
            margin={"l": 240, "r": 30, "t": 10, "b": 50},
            xaxis={"title": {"text": "average session duration, minutes"}, "gridcolor": "#eee", "rangemode": "tozero"},
            yaxis={"automargin": True},
        )
    )
    return figure


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
