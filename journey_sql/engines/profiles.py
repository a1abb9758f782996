"""Where a command connects: a URL, a named target in journey-sql.toml, or a dbt profile.

People coming from the seed dbt project already have a profiles.yml, so
`--profile NAME [--target T]` reads it (from DBT_PROFILES_DIR or ~/.dbt) and
turns the output into a connection URL plus secrets (each engine converts its own adapter type).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from journey_sql.core.errors import ConfigError, did_you_mean
from journey_sql.engines.registry import dbt_converters
from journey_sql.settings.targets import Target, from_config


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
