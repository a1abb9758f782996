"""Targets: the `[targets.NAME]` tables of journey-sql.toml, each a connection URL and option defaults.

A target's secrets travel beside its URL, never inside it, so nothing that prints a URL can leak them.
journey_sql.engines.profiles turns a dbt profile into the same Target and decides which one a run uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from journey_sql.core.errors import ConfigError, did_you_mean


@dataclass(frozen=True)
class Target:
    url: str
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    # option defaults the target brings (e.g. the profile's schema)
    defaults: dict[str, Any] = field(default_factory=dict)
    origin: str = ""


def from_config(config: dict[str, Any], name: str) -> Target:
    """A `[targets.NAME]` table of journey-sql.toml: a connection and option defaults."""
    targets = config.get("targets") or {}
    if name not in targets:
        known = ", ".join(sorted(targets)) or "none defined"
        raise ConfigError(
            f"No target {name!r} in journey-sql.toml.{did_you_mean(name, targets)} Targets: {known}. "
            'Define one as [targets.NAME] with a connection = "..." line.'
        )
    table = dict(targets[name])
    check_target_keys(name, table)
    url = table.pop("connection", None)
    if not url:
        raise ConfigError(f'Target {name!r} in journey-sql.toml has no connection = "...".')
    return Target(url=url, defaults=table, origin=f"journey-sql.toml target {name}")


# What a [targets.NAME] table may set: its connection and the options apply takes.
TARGET_KEYS = frozenset(
    {
        "connection",
        "source_schema",
        "source_table",
        "schema",
        "session_timeout",
        "depth",
        "lookback",
        "threads",
        "memory_limit",
        "layout",
        "source_path",
        "columns",
    }
)
_SECRET_KEYS = ("password", "pass", "token", "secret", "private_key", "passphrase", "keyfile")


def check_target_keys(name: str, table: dict[str, Any]) -> None:
    for key in table:
        if key in TARGET_KEYS:
            continue
        if any(word in key.lower() for word in _SECRET_KEYS):
            # (the value is never repeated)
            raise ConfigError(
                f"journey-sql.toml target {name!r} sets {key!r}: secrets do not go in journey-sql.toml. Set "
                "JOURNEY_SQL_PASSWORD (or the warehouse's own variable, e.g. PGPASSWORD), or use a dbt profile."
            )
        raise ConfigError(
            f"journey-sql.toml target {name!r}: unknown setting {key!r}.{did_you_mean(key, TARGET_KEYS)} "
            f"Known settings: {', '.join(sorted(TARGET_KEYS))}."
        )
