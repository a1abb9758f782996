"""What the dbt project's schema file says of each table: descriptions (condensed from docs/semantics.md,
which is the contract) and the data tests that hold by it. Data, not code: one entry a table."""

from __future__ import annotations

from typing import Any

LEFT_OUT_REASONS = ["no id", "redelivery", "no timestamp", "no identity"]

# table -> (description, {column: (description, [tests])}); tests in dbt's YAML form
_VISITOR = "The visitor: the user_id the event's identity stitches to (dbt_aliases_mapping), else its anonymous_id."
_EVENT_ID = "The event's id (its kept delivery's)."
_TS = "When the event happened (the source's timestamp); every order is (timestamp, event_id)."
_SESSION = "'<session_sequence_number> - <dbt_visitor_id>': the session the row belongs to."
_UNIQUE = ["unique", "not_null"]


def _rel(model: str, field: str) -> dict[str, Any]:
    return {"relationships": {"arguments": {"to": f"ref('{model}')", "field": field}}}


def _at_least(minimum: int) -> dict[str, Any]:
    return {"journey_sql_at_least": {"arguments": {"minimum": minimum}}}


TABLES: dict[str, tuple[str, dict[str, tuple[str, list[Any]]]]] = {
    "jsql_events": (
        "The source read once: every source row, ranked among the deliveries of its id, and why it is left "
        "out if it is. The state incremental builds continue from.",
        {
            "id": ("The source row's id (NULL: the row is left out, 'no id').", []),
            "anonymous_id": ("The device/browser identity.", []),
            "user_id": ("The identified user.", []),
            "event": ("The event name.", []),
            "timestamp": ("When the event happened.", []),
            "received_at": ("When the loader received it; chooses between redeliveries.", []),
            "delivery_rank": (
                "The row's place among the deliveries of its id by (received_at, timestamp, event, anonymous_id, "
                "user_id): 1 is the kept copy; NULL for a row without an id.",
                [_at_least(1)],
            ),
            "left_out": (
                "NULL for an event the tables place; else why not: 'no id', 'redelivery', 'no timestamp' "
                "(NULL or infinite) or 'no identity' (neither user_id nor anonymous_id).",
                [{"accepted_values": {"arguments": {"values": LEFT_OUT_REASONS}}}],
            ),
        },
    ),
    "dbt_aliases_mapping": (
        "Identity stitching: one row per alias (every user_id and anonymous_id of a kept event) with the visitor "
        "it belongs to. A user_id maps to itself; an anonymous_id to the user_id of its most recent event "
        "carrying both ids (ties by the greater id), else to itself.",
        {
            "alias": ("A user_id or anonymous_id seen on a kept event.", _UNIQUE),
            "dbt_visitor_id": (
                "The visitor the alias belongs to; itself an alias.",
                ["not_null", _rel("dbt_aliases_mapping", "alias")],
            ),
        },
    ),
    "dbt_mapped_tracks": (
        "One row per kept event, with its visitor and the exact minutes since the visitor's previous event.",
        {
            "event_id": (_EVENT_ID, _UNIQUE),
            "anonymous_id": ("The event's anonymous_id.", []),
            "dbt_visitor_id": (_VISITOR, ["not_null", _rel("dbt_aliases_mapping", "alias")]),
            "timestamp": (_TS, ["not_null"]),
            "event": ("The event name.", []),
            "idle_time_minutes": (
                "Exact minutes (a double, microsecond arithmetic) since the visitor's previous event; NULL for "
                "their first.",
                [_at_least(0)],
            ),
        },
    ),
    "dbt_session_tracks": (
        "One row per session: a session opens at a visitor's first event and at every event more than the "
        "session timeout after the visitor's previous one.",
        {
            "session_id": (_SESSION, _UNIQUE),
            "dbt_visitor_id": (_VISITOR, ["not_null"]),
            "session_start_at": ("The timestamp of the session's first event.", ["not_null"]),
            "session_sequence_number": (
                "The visitor's sessions counted from 1 in time order.",
                ["not_null", _at_least(1)],
            ),
            "next_session_start_at": ("The start of the visitor's next session; NULL for the last.", []),
        },
    ),
    "dbt_track_facts": (
        "One row per kept event, with its session and its position in the session.",
        {
            "anonymous_id": ("The event's anonymous_id.", []),
            "timestamp": (_TS, ["not_null"]),
            "event_id": (_EVENT_ID, _UNIQUE),
            "event": ("The event name.", []),
            "session_id": (_SESSION, ["not_null", _rel("dbt_session_tracks", "session_id")]),
            "dbt_visitor_id": (_VISITOR, ["not_null"]),
            "track_sequence_number": ("The event's position in its session, from 1.", ["not_null", _at_least(1)]),
        },
    ),
    "dbt_tracks_flow": (
        "One row per kept event, with the names of the events that follow it in the same session "
        "(event_k: the event k-1 places later; NULL past the session's end).",
        {
            "event_id": (_EVENT_ID, _UNIQUE),
            "session_id": (_SESSION, ["not_null", _rel("dbt_session_tracks", "session_id")]),
            "track_sequence_number": ("The event's position in its session, from 1.", ["not_null"]),
            "event": ("The event name.", []),
            "dbt_visitor_id": (_VISITOR, ["not_null"]),
            "timestamp": (_TS, ["not_null"]),
        },
    ),
    "dbt_session_track_facts": (
        "One row per session: when it ended, its number of events, and counts of the chosen events.",
        {
            "session_id": (_SESSION, [*_UNIQUE, _rel("dbt_session_tracks", "session_id")]),
            "ended_at": ("The timestamp of the session's last event.", ["not_null"]),
            "num_pvs": (
                "The number of events in the session (all events, whatever their name).",
                ["not_null", _at_least(1)],
            ),
        },
    ),
    "dbt_session_duration": (
        "One row per session: exact minutes from its first event to its last.",
        {
            "dbt_visitor_id": (_VISITOR, ["not_null"]),
            "session_id": (_SESSION, [*_UNIQUE, _rel("dbt_session_tracks", "session_id")]),
            "session_duration": (
                "Exact minutes (a double) from the session's first event to its last.",
                ["not_null", _at_least(0)],
            ),
        },
    ),
    "dbt_user_session_facts": (
        "One row per visitor: the start of their first and last session, and their number of sessions.",
        {
            "dbt_visitor_id": (_VISITOR, _UNIQUE),
            "first_date": (
                "The session_start_at of the visitor's first session (a timestamp, as in the seed).",
                ["not_null"],
            ),
            "last_date": ("The session_start_at of the visitor's last session.", ["not_null"]),
            "number_of_sessions": ("The visitor's number of sessions.", ["not_null", _at_least(1)]),
        },
    ),
    "jsql_state": (
        "One row saying what the tables were built from: the semantics version, the settings that shape the "
        "rows, a fingerprint of the source, the newest received_at processed and the rows processed. The next "
        "run continues incrementally only when they match.",
        {
            "semantics_version": ("Raised whenever a change would give any table different rows.", ["not_null"]),
            "journey_sql_version": ("The journey-sql version that compiled the SQL.", ["not_null"]),
            "session_timeout_us": ("The session timeout in microseconds.", ["not_null"]),
            "depth": ("Events per dbt_tracks_flow row.", ["not_null"]),
            "count_events": ("The counted event names, a JSON list.", ["not_null"]),
            "source_hash": ("A fingerprint of the source as the stages read it.", ["not_null"]),
            "watermark": ("The newest finite received_at among the rows processed.", []),
            "rows_processed": ("The rows of jsql_events.", ["not_null"]),
        },
    ),
}


def flow_column(k: int) -> tuple[str, list[Any]]:
    return (f"The name of the event {k - 1} place{'s' if k > 2 else ''} after this one in the same session.", [])


def count_column(event: str) -> tuple[str, list[Any]]:
    return (f"How many of the session's events are named exactly {event!r}.", ["not_null", _at_least(0)])
