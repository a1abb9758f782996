"""Engines: one module per warehouse, the single home of everything about it.

Each engine class declares its URL scheme(s) and example, dbt profile types and
conversion, dialect, capability flags and how it connects and replaces tables;
journey_sql.engines.registry lists the classes and derives every table from
them. Drivers are imported when a connection is opened, never at import time,
so `journey-sql render` and users with a single extra installed stay unaffected.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from journey_sql.connection import ConnectionSpec, parse_connection
from journey_sql.engines.base import Engine
from journey_sql.redact import register


def engine_class(scheme: str) -> type[Engine]:
    from journey_sql.engines.registry import by_scheme
    from journey_sql.errors import ConfigError

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


__all__ = ["Engine", "connect", "engine_class"]
