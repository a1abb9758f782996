"""Connection URLs: which engine to use and how to reach it. Secrets never come from the URL.

The URL schemes, their examples and aliases are declared by the engine classes;
journey_sql.engines.registry derives the tables this module reads.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from journey_sql.core.errors import ConfigError, did_you_mean
from journey_sql.core.redact import register
from journey_sql.engines.registry import by_scheme, examples
from journey_sql.engines.spec import ConnectionSpec, redact_url

if TYPE_CHECKING:
    from journey_sql.engines.base import Engine

DEFAULT_CONNECTION = "duckdb:///journey.duckdb"


def parse_connection(url: str) -> ConnectionSpec:
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


def engine_class(scheme: str) -> type[Engine]:
    from journey_sql.core.errors import ConfigError
    from journey_sql.engines.registry import by_scheme

    cls = by_scheme().get(scheme)
    if cls is None:
        raise ConfigError(f"Connections of type {scheme!r} are not supported by this version of journey-sql yet.")
    return cls


def connect(url: str, secrets: dict[str, str] | None = None, **options: Any) -> Engine:
    spec: ConnectionSpec = parse_connection(url)
    if secrets:
        # Whatever command connects, its messages are scrubbed of these from here on.
        register(*secrets.values())
        spec = dataclasses.replace(spec, secrets=dict(secrets))
    return engine_class(spec.scheme).connect(spec, **options)
