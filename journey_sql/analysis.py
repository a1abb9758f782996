"""Answers from the tables: the most common paths and funnels.

The SQL is a template in the canonical dialect (templates/paths.sql.j2,
templates/funnel.sql.j2), transpiled like the stages, so it runs on any
connection `apply` supports; only aggregates come back. Event names given by
the user enter the tree as string literals (placeholders bound by
`render.bind`), never as SQL text.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

import jinja2
from sqlglot import exp

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
    from journey_sql.executor import is_interrupt

    try:
        return [tuple(row) for row in engine.query(sql)]
    except JourneyError:
        raise
    except Exception as err:  # the driver's own error type differs per engine
        if is_interrupt(err):  # Ctrl-C reached the driver first: treat it as Ctrl-C
            raise KeyboardInterrupt from err
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


# -- event names that occur nowhere ----------------------------------------------

MAX_KNOWN_EVENTS = 10_000  # the most frequent names searched for a suggestion


@dataclass(frozen=True)
class MissingEvent:
    name: str
    suggestions: tuple[str, ...]  # the closest names that do occur, best first


def _facts(settings: Settings) -> exp.Table:
    return Relations.for_settings(settings).tables["dbt_track_facts"]


def _sql(engine: Any, tree: exp.Expression) -> str:
    return str(engine.dialect.generate(engine.dialect.transpile(tree)))


def missing_events(engine: Any, settings: Settings, names: list[str] | tuple[str, ...]) -> list[MissingEvent]:
    """The names no event placed in the tables carries (so a funnel or path through them counts zero),
    each with the closest names that occur: the same name in another case or spacing first, then difflib's."""
    wanted = list(dict.fromkeys(n for n in names if n))
    if not wanted:
        return []
    found_sql = (
        exp.select("event")
        .from_(_facts(settings))
        .where(exp.column("event").isin(*(exp.Literal.string(n) for n in wanted)))
        .group_by("event")
    )
    found = {row[0] for row in run_query(engine, _sql(engine, found_sql), "event names", settings)}
    absent = [n for n in wanted if n not in found]
    if not absent:
        return []
    return [MissingEvent(name, closest_events(name, known_events(engine, settings))) for name in absent]


def uncounted_events(engine: Any, settings: Settings) -> list[MissingEvent]:
    """The --count-event names whose cnt_ column is zero in every session: each occurs in no placed event."""
    if not settings.count_events:
        return []
    table = Relations.for_settings(settings).tables["dbt_session_track_facts"]
    sums = exp.select(*(exp.func("SUM", exp.column(c)) for c in settings.count_columns)).from_(table)
    (row,) = run_query(engine, _sql(engine, sums), "--count-event totals", settings)
    zero = [name for name, total in zip(settings.count_events, row, strict=True) if not total]
    return missing_events(engine, settings, zero) if zero else []


def known_events(engine: Any, settings: Settings) -> list[str]:
    """The event names that occur, most frequent first (at most MAX_KNOWN_EVENTS)."""
    query = (
        exp.select("event")
        .from_(_facts(settings))
        .where(exp.column("event").is_(exp.null()).not_())
        .group_by("event")
        .order_by(exp.Ordered(this=exp.func("COUNT", exp.Star()), desc=True))
        .limit(MAX_KNOWN_EVENTS)
    )
    return [str(row[0]) for row in run_query(engine, _sql(engine, query), "event names", settings)]


def _loose(name: str) -> str:
    return re.sub(r"[\s_.:-]+", " ", name.lower()).strip()


def closest_events(name: str, known: list[str], n: int = 3) -> tuple[str, ...]:
    """'product_viewed' -> ('Product Viewed',): names equal but for case and separators first, then close ones."""
    same = [k for k in known if _loose(k) == _loose(name)]
    if same:
        return tuple(same[:n])
    by_loose: dict[str, str] = {}
    for k in known:
        by_loose.setdefault(_loose(k), k)
    return tuple(by_loose[m] for m in difflib.get_close_matches(_loose(name), list(by_loose), n=n, cutoff=0.6))


def describe_missing(missing: list[MissingEvent], settings: Settings) -> str:
    """One sentence per name that occurs nowhere, with its suggestions."""
    where = f"{settings.schema}.dbt_track_facts"
    parts = []
    for m in missing:
        hint = (
            " Did you mean " + " or ".join(repr(s) for s in m.suggestions) + "?"
            if m.suggestions
            else " No event name there is close to it."
        )
        parts.append(f"No event named {m.name!r} occurs in {where}.{hint}")
    return " ".join(parts) + " Event names must match exactly (case and spaces too)."
