"""The report's charts: plotly figures built from the answers (a Sankey of paths, the funnel, per-day
events, session durations, the most active visitors), one function each."""

from __future__ import annotations

import html
from datetime import date
from typing import Any

from journey_sql.answers.funnel import FunnelResult
from journey_sql.answers.paths import PathsResult

SANKEY_STEPS = 4


SANKEY_PATHS = 12


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
