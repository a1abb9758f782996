"""The oracle: all eight tables computed in plain Python from a list of source rows, straight from
docs/semantics.md. No SQL, no journey_sql imports: it must stay independent of what it checks."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

EPOCH = datetime(1970, 1, 1)
MICROS_PER_MINUTE = 60_000_000

Row = dict[str, Any]


def to_naive_utc(ts: datetime | None) -> datetime | None:
    if ts is None or ts.tzinfo is None:
        return ts
    return ts.astimezone(UTC).replace(tzinfo=None)


def epoch_us(ts: datetime) -> int:
    return (to_naive_utc(ts) - EPOCH) // timedelta(microseconds=1)


# PostgreSQL and DuckDB timestamps can be 'infinity' or '-infinity'; the test
# rows spell them as these strings, which sort before and after every instant.
INFINITE = ("-infinity", "infinity")


def finite(ts: Any) -> bool:
    """A usable timestamp: not NULL and not infinite (docs/semantics.md, section 1)."""
    return ts is not None and ts not in INFINITE


def _nulls_last(value: Any) -> tuple[bool, Any]:
    return (value is None, value if value is not None else 0)


def _timestamp_order(ts: Any) -> tuple[int, Any]:
    """-infinity < every instant < infinity; NULL is handled by _nulls_last."""
    if ts == "-infinity":
        return (0, 0)
    if ts == "infinity":
        return (2, 0)
    return (1, to_naive_utc(ts))


def deduplicate(rows: list[Row]) -> list[Row]:
    """One row per id: the earliest received_at; later keys only settle exact ties."""
    by_id: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        if row["id"] is not None:
            by_id[row["id"]].append(row)

    def delivery_key(r: Row) -> tuple:
        return (
            _nulls_last(to_naive_utc(r["received_at"])),
            _nulls_last(None if r["timestamp"] is None else _timestamp_order(r["timestamp"])),
            _nulls_last(r["event"]),
            _nulls_last(r["anonymous_id"]),
            _nulls_last(r["user_id"]),
        )

    return [min(copies, key=delivery_key) for copies in by_id.values()]


def placeable(rows: list[Row]) -> list[Row]:
    return [
        r
        for r in deduplicate(rows)
        if finite(r["timestamp"]) and (r["user_id"] is not None or r["anonymous_id"] is not None)
    ]


def left_out(rows: list[Row]) -> dict[str, int]:
    """What apply reports: rows without an id, duplicate deliveries dropped, and kept events left out by reason."""
    kept = deduplicate(rows)
    return {
        "rows_without_id": sum(r["id"] is None for r in rows),
        "duplicate_deliveries": sum(r["id"] is not None for r in rows) - len(kept),
        "without_timestamp": sum(not finite(r["timestamp"]) for r in kept),
        "without_identity": sum(
            finite(r["timestamp"]) and r["user_id"] is None and r["anonymous_id"] is None for r in kept
        ),
    }


@dataclass
class Tables:
    aliases_mapping: list[tuple]
    mapped_tracks: list[tuple]
    session_tracks: list[tuple]
    track_facts: list[tuple]
    tracks_flow: list[tuple]
    session_track_facts: list[tuple]
    session_duration: list[tuple]
    user_session_facts: list[tuple]

    def as_dict(self) -> dict[str, list[tuple]]:
        return {
            "dbt_aliases_mapping": self.aliases_mapping,
            "dbt_mapped_tracks": self.mapped_tracks,
            "dbt_session_tracks": self.session_tracks,
            "dbt_track_facts": self.track_facts,
            "dbt_tracks_flow": self.tracks_flow,
            "dbt_session_track_facts": self.session_track_facts,
            "dbt_session_duration": self.session_duration,
            "dbt_user_session_facts": self.user_session_facts,
        }


def compute(rows: list[Row], timeout_minutes: float = 30, depth: int = 5, count_events: tuple[str, ...] = ()) -> Tables:
    timeout_us = round(timeout_minutes * MICROS_PER_MINUTE)
    events = placeable(rows)

    # 1. aliases
    user_ids = {e["user_id"] for e in events if e["user_id"] is not None}
    latest: dict[str, Row] = {}
    for e in events:
        a = e["anonymous_id"]
        if a is None or e["user_id"] is None:
            continue
        key = (epoch_us(e["timestamp"]), e["id"])
        if a not in latest or key > (epoch_us(latest[a]["timestamp"]), latest[a]["id"]):
            latest[a] = e
    alias: dict[str, str] = {u: u for u in user_ids}
    for e in events:
        a = e["anonymous_id"]
        if a is not None and a not in user_ids:
            alias[a] = latest[a]["user_id"] if a in latest else a
    aliases_mapping = sorted(alias.items())

    # 2. mapped tracks: each visitor's events in (timestamp, id) order
    by_visitor: dict[str, list[Row]] = defaultdict(list)
    for e in events:
        by_visitor[alias[e["user_id"] if e["user_id"] is not None else e["anonymous_id"]]].append(e)

    mapped, sessions, facts, flow = [], [], [], []
    session_facts, durations, user_facts = [], [], []
    for visitor, evs in by_visitor.items():
        evs.sort(key=lambda e: (epoch_us(e["timestamp"]), e["id"]))
        session_no = 0
        starts: list[datetime] = []
        in_session: list[list[Row]] = []
        prev_us = None
        for e in evs:
            us = epoch_us(e["timestamp"])
            gap = None if prev_us is None else us - prev_us
            idle = None if gap is None else gap / MICROS_PER_MINUTE
            mapped.append((e["id"], e["anonymous_id"], visitor, to_naive_utc(e["timestamp"]), e["event"], idle))
            if gap is None or gap > timeout_us:
                session_no += 1
                starts.append(to_naive_utc(e["timestamp"]))
                in_session.append([])
            in_session[-1].append(e)
            prev_us = us
        for n, start in enumerate(starts, start=1):
            nxt = starts[n] if n < len(starts) else None
            sessions.append((f"{n} - {visitor}", visitor, start, n, nxt))
        for n, members in enumerate(in_session, start=1):
            session_id = f"{n} - {visitor}"
            for seq, e in enumerate(members, start=1):
                ts = to_naive_utc(e["timestamp"])
                facts.append((e["anonymous_id"], ts, e["id"], e["event"], session_id, visitor, seq))
                following = [
                    members[seq - 1 + k]["event"] if seq - 1 + k < len(members) else None for k in range(1, depth)
                ]
                flow.append((e["id"], session_id, seq, e["event"], visitor, ts, *following))
            # the seed's extra models: the session's last event in (timestamp, id) order, its size,
            # how many times each counted event name occurs (exact string equality), exact duration
            first, last = members[0], members[-1]
            counts = [sum(1 for e in members if e["event"] == name) for name in count_events]
            session_facts.append((session_id, to_naive_utc(last["timestamp"]), len(members), *counts))
            durations.append(
                (visitor, session_id, (epoch_us(last["timestamp"]) - epoch_us(first["timestamp"])) / MICROS_PER_MINUTE)
            )
        user_facts.append((visitor, starts[0], starts[-1], len(starts)))
    return Tables(aliases_mapping, mapped, sessions, facts, flow, session_facts, durations, user_facts)


# -- answers: paths and funnels, straight from docs/semantics.md ------------------------


def session_events(tables: Tables) -> dict[str, list[str | None]]:
    """Each session's event names in track_sequence_number order."""
    by_session: dict[str, list[tuple[int, str | None]]] = defaultdict(list)
    for _anon, _ts, _id, event, session_id, _visitor, seq in tables.track_facts:
        by_session[session_id].append((seq, event))
    return {s: [e for _, e in sorted(evs, key=lambda p: p[0])] for s, evs in by_session.items()}


def visitor_events(tables: Tables) -> dict[str, list[str | None]]:
    """Each visitor's event names over their whole history, in (timestamp, id) order."""
    by_visitor: dict[str, list[tuple[int, str, str | None]]] = defaultdict(list)
    for _anon, ts, event_id, event, _session, visitor, _seq in tables.track_facts:
        by_visitor[visitor].append((epoch_us(ts), event_id, event))
    return {v: [e for _, _, e in sorted(evs, key=lambda p: (p[0], p[1]))] for v, evs in by_visitor.items()}


def paths(
    tables: Tables, steps: int, top: int, start_event: str | None = None
) -> tuple[int, list[tuple[tuple[str | None, ...], bool, int]]]:
    """(sessions counted, [(steps, ended early, sessions)]) for the `top` most common paths.

    A session's path is its first `steps` events, or with a start event the `steps`
    events from that event's first occurrence (sessions without it are not counted).
    Equal counts: steps compared left to right, names by code point, a NULL name after
    every name, a path that ended sorting before any longer path it is a prefix of."""
    counts: dict[tuple[str | None, ...], int] = defaultdict(int)
    for events in session_events(tables).values():
        if start_event is not None:
            if start_event not in events:
                continue
            events = events[events.index(start_event) :]
        counts[tuple(events[:steps])] += 1

    def order(item: tuple[tuple[str | None, ...], int]) -> tuple:
        path, n = item
        return (-n, [(1, "") if s is None else (0, s) for s in path])

    ranked = sorted(counts.items(), key=order)[:top]
    return sum(counts.values()), [(path, len(path) < steps, n) for path, n in ranked]


def funnel(tables: Tables, steps: list[str], by: str = "session") -> tuple[int, list[int]]:
    """(all units, [units that did steps 1..i in order, for each i]): each unit's events
    scanned once, advancing to the next step whenever the current one occurs."""
    units = session_events(tables) if by == "session" else visitor_events(tables)
    reached = [0] * len(steps)
    for events in units.values():
        done = 0
        for event in events:
            if done < len(steps) and event == steps[done]:
                done += 1
        for i in range(done):
            reached[i] += 1
    return len(units), reached
