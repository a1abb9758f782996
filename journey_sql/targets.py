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
from urllib.parse import quote, urlencode

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
    if kind not in _CONVERTERS:
        raise ConfigError(
            f"Profile {profile!r} output {chosen!r} has type {kind!r}, which journey-sql cannot connect to. "
            f"Supported: {', '.join(_CONVERTERS)}."
        )
    url, secrets = _CONVERTERS[kind](output)
    defaults = {}
    schema = output.get("schema") or output.get("dataset")
    if schema:
        defaults["schema"] = schema
    return Target(url=url, secrets=secrets, defaults=defaults, origin=f"dbt profile {profile}.{chosen} ({path})")


def _query(params: dict[str, Any]) -> str:
    clean = {k: str(v) for k, v in params.items() if v not in (None, "")}
    return ("?" + urlencode(clean)) if clean else ""


# dbt's own aliases for profile fields (dbt-postgres and dbt-redshift accept `pass` for `password`).
_PROFILE_ALIASES = {"password": ("pass",), "dbname": ("database",)}


def _pick(output: dict[str, Any], *names: str) -> dict[str, str]:
    picked = {}
    for name in names:
        for key in (name, *_PROFILE_ALIASES.get(name, ())):
            if output.get(key) not in (None, ""):
                picked[name] = str(output[key])
                break
    return picked


def _postgres_like(scheme: str, default_port: int):
    def convert(o: dict[str, Any]) -> tuple[str, dict[str, str]]:
        user = quote(str(o.get("user", "")))
        host = o.get("host", "localhost")
        port = o.get("port", default_port)
        params = {"sslmode": o.get("sslmode")} if scheme == "postgresql" else {}
        if scheme == "redshift" and o.get("method") == "iam":
            params.update(iam="true", cluster_id=o.get("cluster_id"), region=o.get("region"))
        return f"{scheme}://{user}@{host}:{port}/{o.get('dbname') or o.get('database', '')}{_query(params)}", _pick(
            o, "password"
        )

    return convert


def _snowflake(o: dict[str, Any]) -> tuple[str, dict[str, str]]:
    params = {
        "warehouse": o.get("warehouse"),
        "role": o.get("role"),
        "authenticator": o.get("authenticator"),
        "private_key_file": o.get("private_key_path"),
    }
    secrets = _pick(o, "password", "token")
    if o.get("private_key_passphrase"):
        secrets["private_key_file_pwd"] = str(o["private_key_passphrase"])
    return (
        f"snowflake://{quote(str(o.get('user', '')))}@{o.get('account', '')}/{o.get('database', '')}{_query(params)}",
        secrets,
    )


def _bigquery(o: dict[str, Any]) -> tuple[str, dict[str, str]]:
    secrets = _pick(o, "keyfile")
    return f"bigquery://{o.get('project') or o.get('database', '')}{_query({'location': o.get('location')})}", secrets


def _databricks(o: dict[str, Any]) -> tuple[str, dict[str, str]]:
    http_path = str(o.get("http_path", "")).lstrip("/")
    return f"databricks://{o.get('host', '')}/{http_path}{_query({'catalog': o.get('catalog')})}", _pick(o, "token")


def _duckdb(o: dict[str, Any]) -> tuple[str, dict[str, str]]:
    return f"duckdb:///{o.get('path', ':memory:')}", {}


def _spark(o: dict[str, Any]) -> tuple[str, dict[str, str]]:
    if o.get("method") not in (None, "session"):
        raise ConfigError(
            "Only Spark profiles with method: session (a local SparkSession) are supported; "
            "for a Databricks cluster use a databricks profile."
        )
    return "spark://local", {}


def _clickhouse(o: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """dbt-clickhouse: its schema is the ClickHouse database the tables go to."""
    if str(o.get("driver", "http")).lower() != "http":
        raise ConfigError(
            "journey-sql reaches ClickHouse over HTTP (clickhouse-connect): set driver: http and the HTTP port "
            "(8123, or 8443 with secure: true) in the dbt-clickhouse profile."
        )
    secure = str(o.get("secure", False)).lower() in ("true", "1", "yes")
    port = o.get("port") or (8443 if secure else 8123)
    params = {"secure": "true" if secure else None, **_pick(o, "connect_timeout", "send_receive_timeout")}
    if "verify" in o:
        params["verify"] = str(o["verify"]).lower()
    user = quote(str(o.get("user") or "default"))
    return f"clickhouse://{user}@{o.get('host', 'localhost')}:{port}{_query(params)}", _pick(o, "password")


_CONVERTERS = {
    "postgres": _postgres_like("postgresql", 5432),
    "redshift": _postgres_like("redshift", 5439),
    "snowflake": _snowflake,
    "bigquery": _bigquery,
    "databricks": _databricks,
    "duckdb": _duckdb,
    "spark": _spark,
    "clickhouse": _clickhouse,
}
