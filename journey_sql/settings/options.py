"""What a run is asked to do, validated once, before any SQL is written or run."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from journey_sql.core.errors import ConfigError

if TYPE_CHECKING:
    from journey_sql.settings.sources import Source

DEFAULT_SESSION_TIMEOUT = 30.0
DEFAULT_DEPTH = 5
# How far behind the newest received_at a run has processed a late-loaded row
# may be and still be picked up by the next incremental run (docs/semantics.md).
DEFAULT_LOOKBACK_SECONDS = 24 * 3600
MIN_DEPTH, MAX_DEPTH = 2, 50

# Plain names only: every engine accepts them unquoted, and each folds their
# case its own way (Snowflake to upper, Postgres to lower), which is how
# RudderStack's own destinations name things. Anything else is rejected rather
# than quoted, so a name can never smuggle SQL in or silently miss its table.
# What depends on the target (reserved words, length limits, system schemas)
# is checked by journey_sql.names where the dialect is known.
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_NAME_LENGTH = 1024  # the longest any target allows (BigQuery)


def check_identifier(value: str, what: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{what} must be a name, got {value!r}.")
    if value == "" or value.isspace():
        raise ConfigError(f"{what} is empty; give a name, or leave the option out for its default.")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ConfigError(f"{what} {value!r} contains a control character (a newline or tab?); remove it.")
    if len(value) > MAX_NAME_LENGTH:
        raise ConfigError(f"{what} is {len(value)} characters long; no target allows more than {MAX_NAME_LENGTH}.")
    if not _PLAIN_NAME.fullmatch(value):
        raise ConfigError(
            f"{what} {value!r} is not a plain name. Use letters, digits and underscores, "
            "starting with a letter or underscore."
        )
    return value


@dataclass(frozen=True)
class Settings:
    """The parameters of one pipeline run; construct through `Settings.create` to validate."""

    source_schema: str = "rudder"
    source_table: str = "tracks"
    schema: str = "analytics"
    session_timeout: float = DEFAULT_SESSION_TIMEOUT
    depth: int = DEFAULT_DEPTH
    # The tables (or files) the events come from and how each maps onto the six
    # columns the stages read: journey_sql/settings/sources.py. None means source_table as is.
    source: Source | None = field(default=None, compare=False)
    # event names counted per session in dbt_session_track_facts (--count-event)
    count_events: tuple[str, ...] = ()
    # incremental builds: how far before the last build's newest received_at to read again (--lookback)
    lookback_seconds: int = DEFAULT_LOOKBACK_SECONDS

    @classmethod
    def create(
        cls,
        source_schema: str | None = None,
        source_table: str | Sequence[str] | None = None,
        schema: str | None = None,
        session_timeout: float | str | None = None,
        depth: int | str | None = None,
        layout: str | None = None,
        columns: Any = None,
        source_path: str | None = None,
        count_events: list[str] | tuple[str, ...] | None = None,
        lookback: str | float | None = None,
    ) -> Settings:
        from journey_sql.settings.layouts import get_layout
        from journey_sql.settings.sources import build_source, parse_columns

        chosen = get_layout(layout)
        tables = [source_table] if isinstance(source_table, str) else list(source_table or [])
        tables = [check_identifier(t, "--source-table") for t in tables] or [chosen.source_table]
        source_schema = check_identifier(_default(source_schema, chosen.source_schema), "--source-schema")
        return cls(
            source_schema=source_schema,
            source_table=tables[0],
            schema=check_identifier(_default(schema, cls.schema), "--schema"),
            session_timeout=_timeout(session_timeout),
            depth=_depth(depth),
            source=build_source(chosen.name, source_schema, tuple(tables), source_path, parse_columns(columns)),
            count_events=_count_events(count_events),
            lookback_seconds=parse_lookback(lookback),
        )

    @property
    def sources(self) -> Source:
        """The source, also for a Settings built directly rather than through `create`."""
        if self.source is not None:
            return self.source
        from journey_sql.settings.sources import build_source

        return build_source(None, self.source_schema, (self.source_table,), None, [])

    @property
    def count_columns(self) -> tuple[str, ...]:
        """dbt_session_track_facts' cnt_ columns, one per --count-event, in the order given."""
        return tuple(count_column(name) for name in self.count_events)

    @property
    def timeout_us(self) -> int:
        """The timeout in whole microseconds, the resolution every comparison uses."""
        return round(self.session_timeout * 60_000_000)


def _default(value: str | None, default: str) -> str:
    # None means "not given"; an empty string is a mistake, reported, not replaced
    return default if value is None else value


def _timeout(value: float | str | None) -> float:
    if value is None:
        return DEFAULT_SESSION_TIMEOUT
    try:
        minutes = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"--session-timeout must be a number of minutes, got {value!r}.") from None
    if not math.isfinite(minutes) or minutes <= 0:
        raise ConfigError(f"--session-timeout must be greater than 0 minutes, got {value!r}.")
    if round(minutes * 60_000_000) < 1:
        raise ConfigError("--session-timeout must be at least one microsecond (1.7e-8 minutes).")
    return minutes


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_lookback(value: str | float | None) -> int:
    """--lookback as whole seconds: '24h', '90m', '2d', '3600s' (text needs its unit), or a number of seconds."""
    if value is None:
        return DEFAULT_LOOKBACK_SECONDS
    text = str(value).strip().lower()
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhd]?)", text)
    if isinstance(value, bool) or not match:
        raise ConfigError(f"--lookback must be a duration such as 24h, 90m, 2d or 3600s, got {value!r}.")
    if isinstance(value, str) and not match.group(2):
        number = match.group(1)
        raise ConfigError(
            f"--lookback {value!r} has no unit: write {number}s, {number}m, {number}h or {number}d "
            "(seconds, minutes, hours, days)."
        )
    seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2) or "s"]
    if seconds != int(seconds):
        raise ConfigError(f"--lookback must be a whole number of seconds, got {value!r} ({seconds:g} s).")
    if seconds > 3650 * 86400:
        raise ConfigError(f"--lookback {value!r} is more than ten years; use --full-refresh to rebuild everything.")
    return int(seconds)


def _depth(value: int | str | None) -> int:
    if value is None:
        return DEFAULT_DEPTH
    text = str(value).strip()
    if isinstance(value, bool) or not re.fullmatch(r"[+-]?\d+", text):
        raise ConfigError(f"--depth must be a whole number, got {value!r}.")
    depth = int(text)
    if not MIN_DEPTH <= depth <= MAX_DEPTH:
        raise ConfigError(
            f"--depth must be between {MIN_DEPTH} and {MAX_DEPTH} "
            f"(the event itself and up to {MAX_DEPTH - 1} that follow it), got {depth}."
        )
    return depth


# The longest name PostgreSQL keeps (it silently truncates longer ones); the
# other engines allow at least this many characters.
MAX_COLUMN_NAME = 63


def count_column(event: str) -> str:
    """The column counting `event`: 'cnt_' + the name lower-cased, every run of
    characters other than a-z and 0-9 turned into one '_', with no '_' at either end.
    'Product Viewed' -> cnt_product_viewed, 'signup' -> cnt_signup."""
    stem = re.sub(r"[^a-z0-9]+", "_", event.lower()).strip("_")
    return f"cnt_{stem}"


def _count_events(value: list[str] | tuple[str, ...] | str | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    names: list[str] = []
    columns: dict[str, str] = {}
    for name in value:
        if not isinstance(name, str) or not name:
            raise ConfigError(f"--count-event needs an event name, got {name!r}.")
        if name in names:
            continue  # the same event twice is counted once
        column = count_column(name)
        if column == "cnt_":
            raise ConfigError(
                f"--count-event {name!r} has no letter or digit to name its column after "
                "(columns are cnt_ + the name's letters and digits)."
            )
        if len(column) > MAX_COLUMN_NAME:
            raise ConfigError(
                f"--count-event {name[:40]!r}... gives the column {column[:40]}..., longer than "
                f"{MAX_COLUMN_NAME} characters (PostgreSQL's limit). Count a shorter event name."
            )
        if column in columns:
            raise ConfigError(
                f"--count-event {columns[column]!r} and {name!r} would both be counted in the column {column}. "
                "Give only one of them."
            )
        columns[column] = name
        names.append(name)
    return tuple(names)
