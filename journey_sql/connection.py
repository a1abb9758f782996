"""Connection URLs: which engine to use and how to reach it. Secrets never come from the URL."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

from journey_sql.errors import ConfigError, did_you_mean
from journey_sql.redact import redact_tokens, redact_urls

DEFAULT_CONNECTION = "duckdb:///journey.duckdb"

# scheme -> example, for error messages; the engines module maps schemes to classes
EXAMPLES: dict[str, str] = {
    "duckdb": "duckdb:///journey.duckdb, duckdb:////abs/path.duckdb or duckdb:///:memory:",
    "postgresql": "postgresql://USER@HOST:5432/DATABASE",
    "redshift": "redshift://USER@HOST:5439/DATABASE",
    "snowflake": "snowflake://USER@ACCOUNT/DATABASE?warehouse=WH&role=ROLE",
    "bigquery": "bigquery://PROJECT?location=US",
    "spark": "spark://local",
    "databricks": "databricks://HOST/HTTP_PATH",
    "chdb": "chdb:///relative/dir, chdb:////abs/dir or chdb:///:memory:",
    "clickhouse": "clickhouse://USER@HOST:8123/DATABASE",
}
SCHEME_ALIASES = {"postgres": "postgresql"}


@dataclass(frozen=True)
class ConnectionSpec:
    scheme: str
    user: str | None = None
    host: str | None = None
    port: int | None = None
    path: str = ""  # database, file path or HTTP path, without the leading slash
    params: dict[str, str] = field(default_factory=dict)
    url: str = ""
    # Passwords, tokens, key files handed over by a dbt profile; never printed.
    secrets: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def secret(self, name: str, env: str | None = None) -> str | None:
        """A secret from the profile, else the named environment variable, else JOURNEY_SQL_<NAME>."""
        if name in self.secrets:
            return self.secrets[name]
        if env and os.environ.get(env):
            return os.environ[env]
        return os.environ.get(f"JOURNEY_SQL_{name.upper()}")

    def redacted(self) -> str:
        """The URL as it may be printed: without any password someone put in it anyway."""
        return redact_url(self.url)


def redact_secrets(text: str, secrets: Sequence[str | None]) -> str:
    """Driver messages should never echo a secret, but make sure of it (whole tokens only)."""
    return redact_tokens(text, secrets)


def redact_url(url: str) -> str:
    """The URL as written, with any password and secret-looking query values masked."""
    return redact_urls(url)


def parse_connection(url: str) -> ConnectionSpec:
    if not url or "://" not in url:
        raise ConfigError(
            f"Connection {redact_url(url)!r} is not a URL. Examples: {EXAMPLES['duckdb']}; {EXAMPLES['postgresql']}."
        )
    scheme = url.split("://", 1)[0].lower()
    scheme = SCHEME_ALIASES.get(scheme, scheme)
    if scheme not in EXAMPLES:
        raise ConfigError(
            f"Unknown connection type {scheme!r} in {redact_url(url)!r}.{did_you_mean(scheme, EXAMPLES)} "
            f"Supported: {', '.join(EXAMPLES)}."
        )
    if scheme in ("duckdb", "chdb"):
        return _duckdb(url, scheme)
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError as err:
        raise ConfigError(f"Connection {redact_url(url)!r} is not a valid URL ({err}).") from None
    if password:
        raise ConfigError(
            f"Put no password in the connection URL ({redact_url(url)}): set JOURNEY_SQL_PASSWORD or use "
            "the warehouse's own credential files instead."
        )
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"Connection {redact_url(url)!r} has an invalid port.") from None
    return ConnectionSpec(
        scheme=scheme,
        user=unquote(parts.username) if parts.username else None,
        host=parts.hostname,
        port=port,
        path=unquote(parts.path.lstrip("/")),
        params=dict(parse_qsl(parts.query)),
        url=url,
    )


def _duckdb(url: str, scheme: str = "duckdb") -> ConnectionSpec:
    """A local database: scheme:///relative, scheme:////absolute or scheme:///:memory: (DuckDB and chdb)."""
    what = {"duckdb": "DuckDB", "chdb": "chdb"}[scheme]
    rest = url.split("://", 1)[1]
    if not rest.startswith("/") or rest == "/":
        raise ConfigError(f"{what} connection {redact_url(url)!r} needs a path: {EXAMPLES[scheme]}.")
    path, _, query = rest[1:].partition("?")
    if not path:
        raise ConfigError(f"{what} connection {redact_url(url)!r} needs a path: {EXAMPLES[scheme]}.")
    return ConnectionSpec(scheme=scheme, path=path, params=dict(parse_qsl(query)), url=url)
