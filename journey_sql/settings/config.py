"""journey-sql.toml: defaults for any option, below environment variables and flags.

    # journey-sql.toml
    connection = "duckdb:///warehouse.duckdb"
    source_schema = "rudder"
    schema = "analytics"
    session_timeout = 45

    [columns]                           # --column event=event_text
    event = "event_text"

    [targets.prod]                      # journey-sql apply --target prod
    connection = "snowflake://me@acme-xy12345/RAW?warehouse=TRANSFORM"
    schema = "journeys"

Keys are option names with underscores. Flags beat JOURNEY_SQL_<NAME>
environment variables, which beat a target's settings, which beat the top of
this file, which beats built-in defaults.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from journey_sql.core.errors import ConfigError, did_you_mean

CONFIG_FILE = "journey-sql.toml"

KNOWN_KEYS = frozenset(
    {
        "connection",
        "dialect",
        "source_schema",
        "source_table",
        "schema",
        "session_timeout",
        "depth",
        "count_events",
        "lookback",
        "threads",
        "memory_limit",
        "targets",
        "layout",
        "source_path",
        "columns",
    }
)


def config_path(directory: Path | None = None) -> Path:
    return (directory or Path.cwd()) / CONFIG_FILE


def load_config(directory: Path | None = None) -> dict[str, Any]:
    path = config_path(directory)
    if not path.exists():
        if path.is_symlink():  # a link to nothing: the settings it was meant to bring would be missed silently
            raise ConfigError(
                f"{path} is a symbolic link to {os.readlink(path)}, which does not exist. "
                f"Point the link at your settings file, or remove it to run without one."
            )
        return {}
    if not path.is_file():
        what = "a directory" if path.is_dir() else "not a regular file"
        raise ConfigError(
            f"{path} is {what}, so no settings could be read from it. Make {CONFIG_FILE} a TOML file "
            "(e.g. session_timeout = 45), or rename it to run without one."
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path} is not valid TOML: {err}") from None
    except OSError as err:
        raise ConfigError(
            f"Cannot read {path}: {err.strerror or err}. Make it readable (e.g. chmod u+r {path}) or move it away."
        ) from None
    for key in data:
        if key not in KNOWN_KEYS:
            raise ConfigError(
                f"{path}: unknown setting {key!r}.{did_you_mean(key, KNOWN_KEYS)} "
                f"Known settings: {', '.join(sorted(KNOWN_KEYS))}."
            )
    targets = data.get("targets", {})
    if not isinstance(targets, dict) or not all(isinstance(t, dict) for t in targets.values()):
        raise ConfigError(f'{path}: targets are tables, e.g. [targets.prod] with connection = "..." below it.')
    from journey_sql.settings.targets import check_target_keys

    for name, table in targets.items():
        check_target_keys(name, table)
    return data


def default_map(commands: Mapping[str, Any], config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Click's per-command defaults: each command takes the settings it has an option for."""
    result: dict[str, dict[str, Any]] = {}
    for name, command in commands.items():
        params = {p.name for p in command.params}
        result[name] = {k: option_value(k, v) for k, v in config.items() if k in params and k != "targets"}
    return result


def option_value(key: str, value: Any) -> Any:
    """A file's value in the shape the option takes: a [columns] table becomes COLUMN=EXPR items,
    and source_table may be one name or a list."""
    if key == "columns" and isinstance(value, dict):
        from journey_sql.settings.sources import parse_columns

        return [f"{k}={v}" for k, v in parse_columns(value)]
    if key == "source_table" and isinstance(value, str):
        return [value]
    return value
