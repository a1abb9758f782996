"""Layouts: the column names RudderStack, Segment and Snowplow write, as preset mappings."""

from __future__ import annotations

from dataclasses import dataclass

from journey_sql.core.errors import ConfigError, did_you_mean
from journey_sql.core.stages import SOURCE_COLUMNS

CANONICAL_COLUMNS: tuple[str, ...] = tuple(SOURCE_COLUMNS)

# What each kind of table contributes unless the user maps a column otherwise.
# RudderStack and Segment write the same columns; their pages and screens
# tables carry the page or screen `name` instead of an `event`.
_IDENTITY = {c: c for c in CANONICAL_COLUMNS}
PAGE_EVENT = "COALESCE('Page: ' || name, 'Page')"
SCREEN_EVENT = "COALESCE('Screen: ' || name, 'Screen')"
SNOWPLOW = {
    "id": "event_id",
    "anonymous_id": "domain_userid",
    "user_id": "user_id",
    "event": "event_name",
    "timestamp": "derived_tstamp",
    "received_at": "collector_tstamp",
}


@dataclass(frozen=True)
class Layout:
    name: str
    source_schema: str
    source_table: str
    summary: str

    def preset(self, table: str) -> dict[str, str]:
        """The default mapping for a table of this layout."""
        if self.name == "snowplow":
            return dict(SNOWPLOW)
        kind = table.lower()
        if kind == "pages":
            return {**_IDENTITY, "event": PAGE_EVENT}
        if kind == "screens":
            return {**_IDENTITY, "event": SCREEN_EVENT}
        return dict(_IDENTITY)


LAYOUTS: dict[str, Layout] = {
    layout.name: layout
    for layout in (
        Layout("rudderstack", "rudder", "tracks", "RudderStack tracks/pages/screens tables"),
        Layout("segment", "rudder", "tracks", "Segment tracks/pages/screens tables (the same columns)"),
        Layout("snowplow", "atomic", "events", "Snowplow's atomic.events table"),
    )
}
DEFAULT_LAYOUT = "rudderstack"


def get_layout(name: str | None) -> Layout:
    key = (name or DEFAULT_LAYOUT).strip().lower()
    if key not in LAYOUTS:
        raise ConfigError(f"Unknown --layout {name!r}.{did_you_mean(key, LAYOUTS)} Layouts: {', '.join(LAYOUTS)}.")
    return LAYOUTS[key]
