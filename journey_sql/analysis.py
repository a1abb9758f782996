"""Answers from the tables: the most common paths and funnels.

The SQL is a template in the canonical dialect (templates/paths.sql.j2,
templates/funnel.sql.j2), transpiled like the stages, so it runs on any
connection `apply` supports; only aggregates come back. Event names given by
the user enter the tree as string literals (placeholders bound by
`render.bind`), never as SQL text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jinja2

from journey_sql.dialects import Dialect, get_dialect
from journey_sql.errors import ConfigError, JourneyError, TemplateError, first_line
from journey_sql.render import Relations, _environment, bind, parse_canonical
from journey_sql.settings import Settings

END = "(end)"  # the marker after the last step of a session shorter than --steps
NO_NAME = "(no event name)"  # how an event whose name is NULL is shown
MAX_STEPS = 50
MAX_FUNNEL_STEPS = 20
BY_CHOICES = ("session", "visitor")


def render_query(template: str, settings: Settings, dialect: Dialect, params: dict[str, str], **context: Any) -> str:
    """One of the analysis templates as SQL text in `dialect`."""
    relations = Relations.for_settings(settings)
    try:
        text = (
            _environment()
            .get_template(template)
            .render(relations={name: t.sql("duckdb") for name, t in relations.tables.items()}, **context)
        )
    except jinja2.TemplateError as err:
        raise TemplateError(f"Template {template} failed to render: {err}") from err
    tree = dialect.transpile(bind(parse_canonical(text, template), params, template))
    return dialect.generate(tree)


def run_query(engine: Any, sql: str, what: str, settings: Settings) -> list[tuple[Any, ...]]:
    try:
        return [tuple(row) for row in engine.query(sql)]
    except JourneyError:
        raise
    except Exception as err:  # the driver's own error type differs per engine
        raise JourneyError(
            f"The {what} query failed on {engine.describe()}: {first_line(err)}. "
            f"Build the tables first with `journey-sql apply --schema {settings.schema}` (same connection)."
        ) from err


# -- paths ----------------------------------------------------------------------


@dataclass(frozen=True)
class Path:
    steps: tuple[str | None, ...]  # event names; None where an event has no name
    ended: bool  # the session (or what follows the start event) ended before --steps events
    sessions: int

    def labels(self) -> list[str]:
        return [NO_NAME if s is None else s for s in self.steps] + ([END] if self.ended else [])


@dataclass(frozen=True)
class PathsResult:
    paths: list[Path]
    total_sessions: int  # sessions counted (with --start-event: those where it occurs)
    steps: int
    start_event: str | None


def path_order(path: Path) -> tuple:
    """Most sessions first; equal counts by their steps compared left to right, each by
    code point, a path that ends before another sorting first, an unnamed event last."""
    return (-path.sessions, [(s is None, s or "") for s in path.steps])


def check_paths_options(steps: int, top: int, start_event: str | None) -> None:
    if not 1 <= steps <= MAX_STEPS:
        raise ConfigError(f"--steps must be between 1 and {MAX_STEPS}, got {steps}.")
    if top < 1:
        raise ConfigError(f"--top must be at least 1, got {top}.")
    if start_event is not None and start_event == "":
        raise ConfigError("--start-event needs an event name.")


def paths_sql(
    settings: Settings, dialect: str | Dialect, steps: int = 5, top: int = 10, start_event: str | None = None
) -> str:
    check_paths_options(steps, top, start_event)
    d = get_dialect(dialect) if isinstance(dialect, str) else dialect
    params = {"start_event": start_event} if start_event is not None else {}
    return render_query("paths.sql.j2", settings, d, params, steps=steps, top=top, start_event=start_event is not None)


def top_paths(
    engine: Any, settings: Settings, steps: int = 5, top: int = 10, start_event: str | None = None
) -> PathsResult:
    rows = run_query(engine, paths_sql(settings, engine.dialect, steps, top, start_event), "paths", settings)
    paths = []
    total = 0
    for row in rows:
        length = int(row[0])
        paths.append(Path(steps=tuple(row[1 : 1 + length]), ended=length < steps, sessions=int(row[1 + steps])))
        total = int(row[2 + steps])
    paths.sort(key=path_order)
    return PathsResult(paths=paths[:top], total_sessions=total, steps=steps, start_event=start_event)


# -- funnel ---------------------------------------------------------------------


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
