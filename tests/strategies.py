"""Hypothesis strategies for nasty tracks tables.

Visitors are built as actors with their own timelines, so the gaps that matter
(exactly the timeout, a millisecond either side, zero) land between one
visitor's events; identities change part way, collide across devices, and go
missing; deliveries repeat, tie, and lack received_at.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from hypothesis import strategies as st

BASE = datetime(2026, 3, 1, 12, 0, 0)
# Mixed case, punctuation and non-ASCII: code-point order differs from
# linguistic collations here ('B' < 'a', '-' ignored, 'é' after 'z').
ID_POOL = ["e1", "E1", "e-1", "e_2", "e2", "é3", "a", "B", "z9", "e10"]
ANON_POOL = ["anon-a", "anon-B", "anon-c", "u1", "Anon-a"]
USER_POOL = ["u1", "u2", "U1", "anon-c", "usr_é"]
EVENT_POOL = ["Page Viewed", "Product Added", "Order Completed", "page viewed", "Ärger"]


def gap_ms(timeout_minutes: float) -> st.SearchStrategy[int]:
    t = round(timeout_minutes * 60_000)
    return st.one_of(
        st.sampled_from([0, 0, 1, t, t, t - 1, t + 1, 2 * t]),
        st.integers(min_value=0, max_value=3 * t),
        st.integers(min_value=0, max_value=5_000),
    )


@st.composite
def actor_rows(draw: st.DrawFn, timeout_minutes: float, first_index: int) -> list[dict[str, Any]]:
    anon = draw(st.sampled_from(ANON_POOL))
    user = draw(st.sampled_from(USER_POOL))
    start = BASE + timedelta(milliseconds=draw(st.integers(0, 20 * 60_000)))
    n = draw(st.integers(1, 9))
    rows, ts = [], start
    for i in range(n):
        ts = ts + timedelta(milliseconds=draw(gap_ms(timeout_minutes)))
        if draw(st.integers(0, 9)) == 0:  # now and then a microsecond-precision timestamp
            ts = ts + timedelta(microseconds=draw(st.integers(1, 999)))
        rows.append(
            {
                "id": f"{draw(st.sampled_from(ID_POOL))}-{first_index + i}",
                "anonymous_id": draw(st.sampled_from([anon, anon, anon, None, *ANON_POOL])),
                "user_id": draw(st.sampled_from([None, None, user, user, *USER_POOL])),
                "event": draw(st.sampled_from([*EVENT_POOL, None])),
                "timestamp": ts,
                "received_at": ts + timedelta(milliseconds=draw(st.integers(0, 3000))),
            }
        )
    return rows


@st.composite
def tracks(draw: st.DrawFn, timeout_minutes: float = 30) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for a in range(draw(st.integers(1, 5))):
        rows += draw(actor_rows(timeout_minutes, first_index=100 * a))
    # timestamp ties across visitors and inside one: copy another row's timestamp
    for row in rows:
        if draw(st.integers(0, 7)) == 0:
            row["timestamp"] = draw(st.sampled_from(rows))["timestamp"]
    # short ids that collide in their order only by tie-breaks
    for row in rows:
        if draw(st.integers(0, 5)) == 0:
            row["id"] = draw(st.sampled_from(ID_POOL)) + row["id"][-3:]
    # redeliveries: same id, maybe other content, maybe the same instant, maybe no received_at
    extra = []
    for row in rows:
        if draw(st.integers(0, 4)) == 0:
            copy = dict(row)
            kind = draw(st.sampled_from(["later", "earlier", "tie", "no_received_at", "other_content"]))
            if kind == "later":
                copy["received_at"] = row["received_at"] + timedelta(seconds=draw(st.integers(1, 600)))
            elif kind == "earlier":
                copy["received_at"] = row["received_at"] - timedelta(milliseconds=draw(st.integers(1, 600)))
                copy["event"] = draw(st.sampled_from(EVENT_POOL))
            elif kind == "no_received_at":
                copy["received_at"] = None
            elif kind in ("tie", "other_content"):
                copy["event"] = draw(st.sampled_from([*EVENT_POOL, None]))
                copy["user_id"] = draw(st.sampled_from([None, *USER_POOL]))
                copy["timestamp"] = row["timestamp"] + timedelta(milliseconds=draw(st.integers(-1000, 1000)))
            extra.append(copy)
    rows += extra
    # rows the pipeline must leave out: no id, no timestamp, no identity
    complete = list(rows)
    for _ in range(draw(st.integers(0, 2))):
        broken = dict(draw(st.sampled_from(complete)))
        which = draw(st.sampled_from(["id", "timestamp", "identity"]))
        if which == "identity":
            broken["anonymous_id"] = broken["user_id"] = None
            broken["id"] = broken["id"] + "-noid"
        else:
            broken[which] = None
            if which == "timestamp":
                broken["id"] = broken["id"] + "-nots"
        rows.append(broken)
    return draw(st.permutations(rows))


@st.composite
def pipeline_case(
    draw: st.DrawFn, timeouts: tuple[float, ...] = (30, 0.5, 2.25), depths: tuple[int, ...] = (2, 5)
) -> tuple[float, int, list[dict[str, Any]]]:
    """A session timeout, a flow depth, and tracks whose gaps sit on that timeout's edges."""
    timeout = draw(st.sampled_from(timeouts))
    depth = draw(st.sampled_from(depths))
    return timeout, depth, draw(tracks(timeout))
