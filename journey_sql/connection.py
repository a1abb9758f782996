"""Connection URLs: which engine to use and how to reach it. Secrets never come from the URL."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

from journey_sql.errors import ConfigError, did_you_mean
from journey_sql.redact import redact_tokens, redact_urls

DEFAULT_CONNECTION = "duckdb:///journey.duckdb"

# The URL schemes, their examples and aliases are declared by the engine
# classes; journey_sql.engines.registry derives the tables (imported when a URL
# is parsed: the engine modules import connection.py themselves).


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
    from journey_sql.engines.registry import by_scheme, examples

    if not url or "://" not in url:
        known = examples()
        raise ConfigError(
            f"Connection {redact_url(url)!r} is not a URL. Examples: {known['duckdb']}; {known['postgresql']}."
        )
    written = url.split("://", 1)[0].lower()
    engine = by_scheme().get(written)
    if engine is None:
        raise ConfigError(
            f"Unknown connection type {written!r} in {redact_url(url)!r}.{did_you_mean(written, examples())} "
            f"Supported: {', '.join(examples())}."
        )
    scheme = engine.scheme
    if engine.url_is_local_path:
        return _local_path(url, scheme, engine.title, engine.example)
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


def _local_path(url: str, scheme: str, what: str, example: str) -> ConnectionSpec:
    """A local database: scheme:///relative, scheme:////absolute or scheme:///:memory: (DuckDB and chdb)."""
    rest = url.split("://", 1)[1]
    if not rest.startswith("/") or rest == "/":
        raise ConfigError(f"{what} connection {redact_url(url)!r} needs a path: {example}.")
    path, _, query = rest[1:].partition("?")
    if not path:
        raise ConfigError(f"{what} connection {redact_url(url)!r} needs a path: {example}.")
    return ConnectionSpec(scheme=scheme, path=path, params=dict(parse_qsl(query)), url=url)
