"""Event names a question asks about but no row holds: found, with the closest names that do occur,
so a misspelt name is an error (or a warning) instead of a silent zero."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from journey_sql.answers.queries import run_query
from journey_sql.compile.templates import Relations
from journey_sql.settings.options import Settings

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
