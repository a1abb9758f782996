"""Funnels (`journey-sql funnel`): how many sessions or visitors did the steps in order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from journey_sql.answers.queries import render_query, run_query
from journey_sql.core.errors import ConfigError
from journey_sql.dialects.dialect import Dialect, get_dialect
from journey_sql.settings.options import Settings

MAX_FUNNEL_STEPS = 20


BY_CHOICES = ("session", "visitor")


@dataclass(frozen=True)
class FunnelStep:
    number: int
    event: str
    units: int  # sessions or visitors that did steps 1..number in order
    from_previous: float | None  # units / the previous step's units (None when that is 0)
    from_first: float | None  # units / step 1's units


@dataclass(frozen=True)
class FunnelResult:
    by: str
    total_units: int  # all sessions, or all visitors
    steps: list[FunnelStep]


def check_funnel_options(steps: list[str] | tuple[str, ...], by: str) -> None:
    if not steps:
        raise ConfigError("A funnel needs at least one step: journey-sql funnel 'Product Viewed' 'Order Completed'.")
    if len(steps) > MAX_FUNNEL_STEPS:
        raise ConfigError(f"A funnel has at most {MAX_FUNNEL_STEPS} steps, got {len(steps)}.")
    if any(not s for s in steps):
        raise ConfigError("A funnel step needs an event name; got an empty one.")
    if by not in BY_CHOICES:
        raise ConfigError(f"--by must be one of {', '.join(BY_CHOICES)}, got {by!r}.")


def funnel_sql(
    settings: Settings, dialect: str | Dialect, steps: list[str] | tuple[str, ...], by: str = "session"
) -> str:
    check_funnel_options(steps, by)
    d = get_dialect(dialect) if isinstance(dialect, str) else dialect
    params = {f"step_{i}": name for i, name in enumerate(steps, start=1)}
    return render_query("funnel.sql.j2", settings, d, params, n_steps=len(steps), by=by)


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def funnel(engine: Any, settings: Settings, steps: list[str] | tuple[str, ...], by: str = "session") -> FunnelResult:
    rows = run_query(engine, funnel_sql(settings, engine.dialect, steps, by), "funnel", settings)
    units = {int(step): int(n) for step, n in rows}
    result = []
    for i, name in enumerate(steps, start=1):
        result.append(
            FunnelStep(
                number=i,
                event=name,
                units=units[i],
                from_previous=None if i == 1 else _ratio(units[i], units[i - 1]),
                from_first=_ratio(units[i], units[1]),
            )
        )
    return FunnelResult(by=by, total_units=units[0], steps=result)
