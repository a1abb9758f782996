"""Whether a run may continue the last build: the state read back and compared with this run's settings."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from journey_sql.compile.templates import state_values
from journey_sql.core.stages import EVENTS, PLAN_STAGES, SEMANTICS_VERSION, STATE
from journey_sql.engines.base import Engine
from journey_sql.settings.options import Settings


@dataclass(frozen=True)
class Decision:
    """Whether this run builds incrementally, and the sentence saying why (or why not)."""

    incremental: bool
    reason: str
    watermark: Any = None  # the newest received_at the last build processed
    rows_processed: int | None = None
    source_rows: int | None = None  # counted before the run where counting is cheap


def decide(engine: Engine, settings: Settings, full_refresh: bool | str) -> Decision:
    """Read the last build's state and compare it with this run's settings (`full_refresh`: True, or why)."""
    if full_refresh:
        return Decision(
            False, full_refresh if isinstance(full_refresh, str) else "full refresh requested (--full-refresh)"
        )
    schema = settings.schema
    if schema.lower() not in {s.lower() for s in engine.schemas()}:
        return Decision(False, f"first build in {schema}")
    present = {t.lower() for t in engine.tables(schema)}
    if STATE.name not in present:
        if EVENTS.name in present:
            return Decision(
                False,
                f"{schema}.{STATE.name} is missing (a build by an older journey-sql, or a run that was interrupted "
                "before it finished)",
            )
        return Decision(False, f"first build in {schema}")
    missing = [s.name for s in PLAN_STAGES if s.name not in present]
    if missing:
        return Decision(False, f"{schema}.{missing[0]} is missing")
    found = engine.columns(schema, STATE.name) or {}
    if set(found) != set(STATE.columns):
        return Decision(False, f"{schema}.{STATE.name} has other columns than this journey-sql writes")
    columns = ", ".join(STATE.columns)
    rows = engine.query(f"SELECT {columns} FROM {engine.sql(exp.table_(STATE.name, db=schema))}")
    if len(rows) != 1:
        return Decision(False, f"{schema}.{STATE.name} holds {len(rows)} rows, not the one a build writes")
    state = dict(zip(STATE.columns, rows[0], strict=True))
    changed = _changed_setting(state, settings)
    if changed:
        return Decision(False, changed)
    processed = int(state["rows_processed"])
    source_rows = None
    if engine.cheap_source_count and all(t.path is None for t in settings.sources.tables):
        relation = settings.sources.relation()
        source_rows = int(engine.query(f"SELECT COUNT(*) FROM {engine.sql(relation)}")[0][0])
        if source_rows < processed:
            return Decision(
                False,
                f"the source has {source_rows:,} rows, fewer than the {processed:,} the last build processed: "
                "rows were deleted or replaced, so only a full refresh is right",
            )
    return Decision(
        True,
        f"the last build has the same settings; reading rows received since {state['watermark']} "
        f"minus the lookback ({_duration(settings.lookback_seconds)})",
        watermark=state["watermark"],
        rows_processed=processed,
        source_rows=source_rows,
    )


def _changed_setting(state: dict[str, Any], settings: Settings) -> str | None:
    """Why the last build cannot be continued, or None."""
    if int(state["semantics_version"]) != SEMANTICS_VERSION:
        return (
            f"the tables were built by journey-sql {state['journey_sql_version']} with semantics version "
            f"{state['semantics_version']}; this version's is {SEMANTICS_VERSION}"
        )
    if int(state["session_timeout_us"]) != settings.timeout_us:
        return (
            f"--session-timeout changed from {int(state['session_timeout_us']) / 60_000_000:g} "
            f"to {settings.session_timeout:g} minutes"
        )
    if int(state["depth"]) != settings.depth:
        return f"--depth changed from {int(state['depth'])} to {settings.depth}"
    values = state_values(settings)
    if state["count_events"] != values["count_events"]:
        before = ", ".join(json.loads(state["count_events"])) or "none"
        return f"--count-event changed from {before} to {', '.join(settings.count_events) or 'none'}"
    if state["source_hash"] != values["source_hash"]:
        return "the source changed (tables, layout or column mapping)"
    return None


def _duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
