"""The stages in run order: the table each builds and the columns it promises."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    name: str  # also the table name and the template's file stem
    summary: str
    columns: tuple[str, ...]

    @property
    def template(self) -> str:
        return f"{self.name}.sql.j2"


STAGES: tuple[Stage, ...] = (
    Stage("dbt_aliases_mapping", "identity stitching", ("alias", "dbt_visitor_id")),
    Stage(
        "dbt_mapped_tracks",
        "events with visitor and idle time",
        ("event_id", "anonymous_id", "dbt_visitor_id", "timestamp", "event", "idle_time_minutes"),
    ),
    Stage(
        "dbt_session_tracks",
        "sessions",
        ("session_id", "dbt_visitor_id", "session_start_at", "session_sequence_number", "next_session_start_at"),
    ),
    Stage(
        "dbt_track_facts",
        "events with session and sequence number",
        ("anonymous_id", "timestamp", "event_id", "event", "session_id", "dbt_visitor_id", "track_sequence_number"),
    ),
    Stage(
        "dbt_tracks_flow",
        "each event with the events that follow it",
        ("event_id", "session_id", "track_sequence_number", "event", "dbt_visitor_id", "timestamp"),
    ),
    # The seed project's extra models, built from the tables above.
    Stage(
        "dbt_session_track_facts",
        "per session: last event and event counts",
        ("session_id", "ended_at", "num_pvs"),  # then one cnt_<event> per --count-event
    ),
    Stage(
        "dbt_session_duration",
        "per session: exact minutes from first to last event",
        ("dbt_visitor_id", "session_id", "session_duration"),
    ),
    Stage(
        "dbt_user_session_facts",
        "per visitor: first and last session start, number of sessions",
        ("dbt_visitor_id", "first_date", "last_date", "number_of_sessions"),
    ),
)

STAGE_NAMES: tuple[str, ...] = tuple(s.name for s in STAGES)

# The first step of every run: the one read of the source. It keeps every
# source row with its rank among the deliveries of its id (the first is the
# copy the stages place) and, for a row the stages do not place, the reason;
# it stays in the output schema as the state of incremental builds.
EVENTS = Stage(
    "jsql_events",
    "the source read once: every row, ranked among its id's deliveries, why it is left out",
    ("id", "anonymous_id", "user_id", "event", "timestamp", "received_at", "delivery_rank", "left_out"),
)

# The last step: what the build was made from, so the next run can build
# incrementally (same settings and semantics) or knows it must not.
STATE = Stage(
    "jsql_state",
    "what this build was made from: settings, semantics version, newest received_at processed",
    (
        "semantics_version",
        "journey_sql_version",
        "session_timeout_us",
        "depth",
        "count_events",
        "source_hash",
        "watermark",
        "rows_processed",
    ),
)

# Bumped whenever a change to the templates changes any table's rows for the
# same source: a build made under another version is rebuilt in full.
SEMANTICS_VERSION = 1

# Every table a run builds, in order.
PLAN_STAGES: tuple[Stage, ...] = (EVENTS, *STAGES, STATE)

# The source columns the stages read; RudderStack's tracks table has many more.
SOURCE_COLUMNS: dict[str, str] = {
    "id": "string",
    "anonymous_id": "string",
    "user_id": "string",
    "event": "string",
    "timestamp": "timestamp",
    "received_at": "timestamp",
}


def stage_columns(stage: Stage, depth: int, count_columns: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Columns of a stage's table; the flow table grows with --depth, session facts with --count-event."""
    if stage.name == "dbt_tracks_flow":
        return stage.columns + tuple(f"event_{k}" for k in range(2, depth + 1))
    if stage.name == "dbt_session_track_facts":
        return stage.columns + tuple(count_columns)
    return stage.columns


def get_stage(name: str) -> Stage:
    from journey_sql.core.errors import ConfigError, did_you_mean

    for stage in PLAN_STAGES:
        if stage.name == name:
            return stage
    names = tuple(s.name for s in PLAN_STAGES)
    raise ConfigError(f"Unknown stage {name!r}.{did_you_mean(name, names)} Stages: {', '.join(names)}.")
