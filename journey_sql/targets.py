"""Where `apply` connects: a URL, a named target in journey-sql.toml, or a dbt profile.

People coming from the seed dbt project already have a profiles.yml, so
`--profile NAME [--target T]` reads it (from DBT_PROFILES_DIR or ~/.dbt) and
turns the output into a connection URL plus secrets; the secrets travel beside
the URL, never inside it, so nothing that prints a URL can leak them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from journey_sql.errors import ConfigError, did_you_mean


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


def resolve(
    connection: str,
    connection_is_explicit: bool,
    target: str | None,
    profile: str | None,
    config: dict[str, Any],
) -> Target:
    """The one place that decides where apply connects."""
    if profile and connection_is_explicit:
        raise ConfigError("Give either --connection or --profile, not both.")
    if profile:
        return from_profile(profile, target)
    if target:
        if connection_is_explicit:
            raise ConfigError("Give either --connection or --target, not both.")
        return from_config(config, target)
    return Target(url=connection, origin="--connection")


def profiles_path() -> Path:
    directory = os.environ.get("DBT_PROFILES_DIR")
    return (Path(directory) if directory else Path.home() / ".dbt") / "profiles.yml"


def _env_var(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        raise ConfigError(f"profiles.yml uses env_var('{name}'), which is not set.")
    return value


def _render(value: Any) -> Any:
    """dbt renders profiles with Jinja; support its env_var() the same way."""
    if isinstance(value, str) and "{{" in value:
        import jinja2

        return jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(value).render(env_var=_env_var)
    if isinstance(value, dict):
        return {k: _render(v) for k, v in value.items()}
    return value


def from_profile(profile: str, target: str | None = None, path: Path | None = None) -> Target:
    import yaml

    from journey_sql.engines.registry import dbt_converters

    path = path or profiles_path()
    if not path.is_file():
        raise ConfigError(f"No dbt profiles file at {path}. Set DBT_PROFILES_DIR or pass --connection instead.")
    try:
        profiles = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}") from None
    if profile not in profiles:
        names = [k for k in profiles if k != "config"]
        raise ConfigError(
            f"No profile {profile!r} in {path}.{did_you_mean(profile, names)} Profiles: {', '.join(names)}."
        )
    entry = profiles[profile] or {}
    outputs = entry.get("outputs") or {}
    chosen = target or entry.get("target")
    if chosen not in outputs:
        raise ConfigError(
            f"Profile {profile!r} has no output {chosen!r}.{did_you_mean(str(chosen), outputs)} "
            f"Outputs: {', '.join(outputs)}."
        )
    output = _render(outputs[chosen])
    kind = str(output.get("type", "")).lower()
    # each engine class converts its own dbt adapter types (from_dbt_profile)
    converters = dbt_converters()
    if kind not in converters:
        raise ConfigError(
            f"Profile {profile!r} output {chosen!r} has type {kind!r}, which journey-sql cannot connect to. "
            f"Supported: {', '.join(converters)}."
        )
    url, secrets = converters[kind](output)
    defaults = {}
    schema = output.get("schema") or output.get("dataset")
    if schema:
        defaults["schema"] = schema
    return Target(url=url, secrets=secrets, defaults=defaults, origin=f"dbt profile {profile}.{chosen} ({path})")
