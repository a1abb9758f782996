"""Hypothesis strategies for nasty tracks tables.

Visitors are built as actors with their own timelines, so the gaps that matter
(exactly the timeout, a millisecond either side, zero) land between one
visitor's events; identities change part way, collide across devices, and go
missing; deliveries repeat, tie, and lack received_at.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from hypothesis import strategies as st


def examples(n: int) -> int:
    """The example budget of a test that sets its own (engines are slow): ten times as many under
    HYPOTHESIS_PROFILE=thorough, which otherwise only raises the default that such tests override."""
    return n * 10 if os.environ.get("HYPOTHESIS_PROFILE") == "thorough" else n


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


# -- incremental histories ------------------------------------------------------------------
#
# An event set cut into batches by received_at, as a warehouse receives it, with
# the rows that make incremental builds hard mixed into every later batch. The
# lookback condition of docs/semantics.md holds by construction:
# every row of batch k has received_at >= W(k-1) - lookback, or a NULL
# received_at, where W(k-1) is the newest received_at of all rows in batches
# 0..k-1 (the largest any definition of "processed" can give, so the condition
# holds for any narrower one). `lookback_holds` checks it.


def newest_received(rows: list[dict[str, Any]]) -> datetime | None:
    seen = [r["received_at"] for r in rows if r["received_at"] is not None]
    return max(seen) if seen else None


def lookback_violations(batches: list[list[dict[str, Any]]], lookback_seconds: float) -> list[tuple[int, dict]]:
    """(batch, row) for every row appended beyond the lookback of the run before it."""
    lookback = timedelta(seconds=lookback_seconds)
    bad: list[tuple[int, dict]] = []
    for k in range(1, len(batches)):
        watermark = newest_received([r for b in batches[:k] for r in b])
        if watermark is None:
            continue
        bad += [(k, r) for r in batches[k] if r["received_at"] is not None and r["received_at"] < watermark - lookback]
    return bad


def late_offsets_ms(timeout_minutes: float) -> st.SearchStrategy[int]:
    """Where a late event lands relative to a known event of its visitor: before its session, on it,
    inside it, in the gap after it, or joining two sessions (a gap of exactly the timeout either side)."""
    t = round(timeout_minutes * 60_000)
    return st.one_of(
        st.sampled_from([-3 * t, -t - 1, -t, -1, 0, 1, t // 2, t, t + 1, 2 * t, -2 * t]),
        st.integers(min_value=-4 * t, max_value=4 * t),
    )


def _between(draw: st.DrawFn, low: datetime, high: datetime) -> datetime:
    """An instant in [low, high], often one of its ends, to the microsecond."""
    span = (high - low) // timedelta(microseconds=1)
    if span <= 0:
        return low
    pick = draw(st.one_of(st.sampled_from([0, span, span // 2]), st.integers(0, span)))
    return low + timedelta(microseconds=pick)


def _unidentified(
    draw: st.DrawFn, earlier: list[dict[str, Any]], bound: datetime, end: datetime
) -> dict[str, Any] | None:
    """An anonymous id's latest identification received again, earlier (not before `bound`) and without
    its user_id: the copy replaces the kept one and the id falls back to its identification before."""
    latest: dict[str, dict[str, Any]] = {}
    users: dict[str, set[str]] = {}
    for r in earlier:
        if r["id"] is not None and r["anonymous_id"] and r["user_id"] and r["timestamp"] is not None:
            users.setdefault(r["anonymous_id"], set()).add(r["user_id"])
            best = latest.get(r["anonymous_id"])
            if best is None or (r["timestamp"], r["id"]) > (best["timestamp"], best["id"]):
                latest[r["anonymous_id"]] = r
    candidates = [r for r in latest.values() if r["received_at"] is None or r["received_at"] > bound]
    # ids identified by more than one user first: those fall back to another visitor
    candidates = [r for r in candidates if len(users[r["anonymous_id"]]) > 1] or candidates
    if not candidates:
        return None
    row = draw(st.sampled_from(sorted(candidates, key=lambda r: r["id"])))
    if row["received_at"] is None:
        received = _between(draw, bound, max(bound, end))
    else:
        received = _between(draw, bound, row["received_at"] - timedelta(microseconds=1))
    return {**row, "user_id": None, "received_at": received}


@st.composite
def incremental_history(
    draw: st.DrawFn,
    timeouts: tuple[float, ...] = (30, 0.5, 2.25),
    depths: tuple[int, ...] = (2, 5),
    max_batches: int = 6,
    replaced_identification: bool | None = None,
) -> tuple[float, int, int, list[list[dict[str, Any]]]]:
    """(timeout, depth, lookback_seconds, batches): batch 0 is the first load, each later batch the rows
    appended before the next run. Later batches mix in stragglers (received_at behind the previous
    run's newest, inside the lookback, sometimes exactly on its edge), redeliveries of earlier ids
    (the same row again, or other content received earlier or at the same instant, which must
    replace the kept copy), late events before, inside, between and joining a known visitor's
    sessions, identifications that stitch earlier anonymous events (first, re-identification by a
    later identify, an older identify that changes nothing, a latest identification replaced by a copy
    without its user_id), an anonymous id equal to an earlier
    user_id and a user_id equal to an earlier anonymous id, NULL received_at, rows the pipeline
    leaves out, and batches that change nothing. `replaced_identification` (drawn when None) adds a
    batch of one row replacing an anonymous id's latest identification (_unidentified)."""
    timeout = draw(st.sampled_from(timeouts))
    depth = draw(st.sampled_from(depths))
    lone = draw(st.booleans()) if replaced_identification is None else replaced_identification
    n = draw(st.integers(3 if lone else 2, max(3 if lone else 2, max_batches)))
    quiet = n > 2 + lone and draw(st.integers(0, 3)) == 0  # one batch that changes nothing
    cut_into = n - quiet - lone

    # the base events: actors with timelines whose gaps sit on the timeout's edges
    rows: list[dict[str, Any]] = []
    for a in range(draw(st.integers(2, 5))):
        rows += draw(actor_rows(timeout, first_index=100 * a))
    for row in rows:
        kind = draw(st.integers(0, 11))
        if kind == 0:  # loaded long after it happened
            row["received_at"] = row["timestamp"] + timedelta(
                milliseconds=draw(st.integers(1, round(4 * 60_000 * timeout)))
            )
        elif kind == 1:
            row["received_at"] = None
    with_received = sorted(r["received_at"] for r in rows if r["received_at"] is not None)
    if not with_received:
        rows[0]["received_at"] = rows[0]["timestamp"]
        with_received = [rows[0]["received_at"]]
    cuts = sorted(draw(st.lists(st.sampled_from(with_received), min_size=cut_into - 1, max_size=cut_into - 1)))
    cuts.append(with_received[-1] + timedelta(seconds=1))  # the last batch's end
    batches: list[list[dict[str, Any]]] = [[] for _ in range(cut_into)]
    for row in rows:
        if row["received_at"] is None:
            batches[draw(st.integers(0, cut_into - 1))].append(row)
        else:
            batches[sum(c < row["received_at"] for c in cuts[:-1])].append(row)
    if not any(r["received_at"] is not None for r in batches[0]):  # the first run must set a watermark
        first = min((r for r in rows if r["received_at"] is not None), key=lambda r: r["received_at"])
        for b in batches:
            if first in b:
                b.remove(first)
        batches[0].append(first)

    # the batch period sets the lookback's scale: from a sliver of one batch to several batches
    period = max(1.0, (cuts[-1] - with_received[0]).total_seconds() / cut_into)
    lookback_seconds = max(1, round(period * draw(st.sampled_from([0.05, 0.3, 1.0, 3.0]))))
    lookback = timedelta(seconds=lookback_seconds)

    counter = 1000

    def fresh_id() -> str:
        nonlocal counter
        counter += 1
        return f"{draw(st.sampled_from(ID_POOL))}-{counter}"

    for k in range(1, cut_into):
        earlier = [r for b in batches[:k] for r in b]
        watermark = newest_received(earlier)
        assert watermark is not None
        bound = watermark - lookback

        # stragglers: rows received inside the lookback that arrive only now
        for j in range(k):
            for row in list(batches[j]):
                if row["received_at"] is None or row["received_at"] < bound:
                    continue
                if j == 0 and row["received_at"] == newest_received(batches[0]):
                    continue  # the first run keeps a watermark
                if draw(st.integers(0, 3)) == 0:
                    batches[j].remove(row)
                    batches[k].append(row)
        earlier = [r for b in batches[:k] for r in b]
        bound = newest_received(earlier) - lookback  # type: ignore[operator]
        arrival_end = max(bound, cuts[k])

        def arrival(bound: datetime = bound, end: datetime = arrival_end) -> datetime:
            return _between(draw, bound, end)

        placed = [r for r in earlier if r["timestamp"] is not None and (r["anonymous_id"] or r["user_id"])]
        anons = sorted({r["anonymous_id"] for r in earlier if r["anonymous_id"] is not None})
        users = sorted({r["user_id"] for r in earlier if r["user_id"] is not None})
        extra: list[dict[str, Any]] = []
        for _ in range(draw(st.integers(0, 6))):
            kind = draw(
                st.sampled_from(
                    [
                        "late",
                        "late",
                        "edge",
                        "identify",
                        "identify",
                        "anon_is_user",
                        "user_is_anon",
                        "redeliver_same",
                        "redeliver_earlier",
                        "redeliver_earlier",
                        "redeliver_tie",
                        "unidentify",
                        "no_received_at",
                        "left_out",
                    ]
                )
            )
            event = draw(st.sampled_from([*EVENT_POOL, None]))
            if kind in ("late", "edge", "no_received_at") and placed:
                known = draw(st.sampled_from(placed))
                who = draw(st.sampled_from(["anon", "user", "both"]))
                extra.append(
                    {
                        "id": fresh_id(),
                        "anonymous_id": known["anonymous_id"] if who != "user" else None,
                        "user_id": known["user_id"] if who != "anon" else None,
                        "event": event,
                        "timestamp": known["timestamp"] + timedelta(milliseconds=draw(late_offsets_ms(timeout))),
                        "received_at": {"late": arrival(), "edge": bound, "no_received_at": None}[kind],
                    }
                )
                if extra[-1]["anonymous_id"] is None and extra[-1]["user_id"] is None:
                    extra[-1]["anonymous_id"] = draw(st.sampled_from(ANON_POOL))
            elif kind == "identify" and anons:
                anon = draw(st.sampled_from(anons))
                of_anon = [r["timestamp"] for r in placed if r["anonymous_id"] == anon]
                identified = [r["timestamp"] for r in placed if r["anonymous_id"] == anon and r["user_id"]]
                when = draw(st.sampled_from(["latest", "older", "on_event"]))
                if when == "latest" or not of_anon:
                    ts = max(r["timestamp"] for r in placed) + timedelta(milliseconds=draw(st.integers(0, 60_000)))
                elif when == "older":
                    ts = min(identified or of_anon) - timedelta(milliseconds=draw(st.integers(1, 60_000)))
                else:
                    ts = draw(st.sampled_from(of_anon))
                extra.append(
                    {
                        "id": fresh_id(),
                        "anonymous_id": anon,
                        "user_id": draw(st.sampled_from(sorted({*USER_POOL, *users}))),
                        "event": event,
                        "timestamp": ts,
                        "received_at": arrival(),
                    }
                )
            elif kind == "anon_is_user" and users and placed:
                user = draw(st.sampled_from(users))
                extra.append(
                    {
                        "id": fresh_id(),
                        "anonymous_id": user,
                        "user_id": draw(st.sampled_from([None, None, *USER_POOL])),
                        "event": event,
                        "timestamp": draw(st.sampled_from(placed))["timestamp"]
                        + timedelta(milliseconds=draw(late_offsets_ms(timeout))),
                        "received_at": arrival(),
                    }
                )
            elif kind == "user_is_anon" and anons and placed:
                extra.append(
                    {
                        "id": fresh_id(),
                        "anonymous_id": draw(st.sampled_from([None, *ANON_POOL])),
                        "user_id": draw(st.sampled_from(anons)),
                        "event": event,
                        "timestamp": draw(st.sampled_from(placed))["timestamp"]
                        + timedelta(milliseconds=draw(late_offsets_ms(timeout))),
                        "received_at": arrival(),
                    }
                )
            elif kind == "redeliver_same" and earlier:
                # the same row again, received at the same instant or later: it changes nothing
                row = draw(st.sampled_from(earlier))
                copy = dict(row)
                if row["received_at"] is not None and row["received_at"] < bound:
                    copy["received_at"] = arrival()
                elif row["received_at"] is not None and draw(st.booleans()):
                    copy["received_at"] = _between(draw, row["received_at"], max(row["received_at"], arrival_end))
                extra.append(copy)
            elif kind in ("redeliver_earlier", "redeliver_tie"):
                # other content that wins the deduplication: received earlier (still inside the
                # lookback), or at the same instant and first by the tie-break, or any time when
                # every earlier copy lacks received_at
                candidates = [
                    r
                    for r in earlier
                    if r["id"] is not None
                    and (r["received_at"] is None or r["received_at"] > bound or kind == "redeliver_tie")
                    and (r["received_at"] is None or r["received_at"] >= bound)
                ]
                if not candidates:
                    continue
                row = draw(st.sampled_from(candidates))
                copy = dict(row)
                if row["received_at"] is None:
                    copy["received_at"] = arrival()
                elif kind == "redeliver_earlier":
                    copy["received_at"] = _between(draw, bound, row["received_at"] - timedelta(microseconds=1))
                copy["event"] = draw(st.sampled_from([*EVENT_POOL, None]))
                if row["timestamp"] is not None and draw(st.booleans()):
                    copy["timestamp"] = row["timestamp"] + timedelta(milliseconds=draw(late_offsets_ms(timeout)))
                if draw(st.integers(0, 2)) == 0:
                    copy["user_id"] = draw(st.sampled_from([None, *USER_POOL]))
                if draw(st.integers(0, 3)) == 0:
                    copy["anonymous_id"] = draw(st.sampled_from([None, *ANON_POOL]))
                extra.append(copy)
            elif kind == "unidentify":
                copy = _unidentified(draw, placed, bound, arrival_end)
                if copy is not None:
                    extra.append(copy)
            elif kind == "left_out" and placed:
                broken = dict(draw(st.sampled_from(placed)))
                broken["received_at"] = arrival()
                which = draw(st.sampled_from(["id", "timestamp", "identity"]))
                broken["id"] = None if which == "id" else fresh_id()
                if which == "timestamp":
                    broken["timestamp"] = None
                elif which == "identity":
                    broken["anonymous_id"] = broken["user_id"] = None
                extra.append(broken)
        batches[k] += extra

    if quiet:
        # a batch that changes nothing: nothing at all, or rows received again no earlier than
        # their first copy and no later than the watermark (so the next batch's bound stays put)
        at = draw(st.integers(1, cut_into))
        earlier = [r for b in batches[:at] for r in b]
        watermark = newest_received(earlier)
        assert watermark is not None
        again = []
        for row in draw(st.lists(st.sampled_from(earlier), max_size=4)):
            copy = dict(row)
            if row["received_at"] is not None:
                low = max(row["received_at"], watermark - lookback)
                copy["received_at"] = _between(draw, low, max(low, watermark))
            again.append(copy)
        batches.insert(at, again)

    if lone:
        # a batch of one row that replaces an anonymous id's latest identification: no row of the
        # batch names the user the id falls back to, whose events the run must read all the same
        at = draw(st.integers(1, len(batches)))
        earlier = [r for b in batches[:at] for r in b]
        watermark = newest_received(earlier)
        assert watermark is not None
        copy = _unidentified(draw, earlier, watermark - lookback, watermark)
        batches.insert(at, [] if copy is None else [copy])

    batches = [draw(st.permutations(b)) for b in batches]
    return timeout, depth, lookback_seconds, batches
