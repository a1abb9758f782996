"""The most common paths through sessions (`journey-sql paths`): each session counted once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from journey_sql.answers.queries import render_query, run_query
from journey_sql.core.errors import ConfigError
from journey_sql.dialects.dialect import Dialect, get_dialect
from journey_sql.settings.options import Settings

END = "(end)"  # the marker after the last step of a session shorter than --steps


NO_NAME = "(no event name)"  # how an event whose name is NULL is shown


MAX_STEPS = 50


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
