"""Engines: one small class per warehouse, holding only what differs.

Drivers are imported when a connection is opened, never at import time, so
`journey-sql render` and users with a single extra installed stay unaffected.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

from journey_sql.connection import ConnectionSpec, parse_connection
from journey_sql.engines.base import Engine

# scheme -> "module:Class"
_ENGINES: dict[str, str] = {
    "duckdb": "journey_sql.engines.duckdb:DuckDBEngine",
    "postgresql": "journey_sql.engines.postgres:PostgresEngine",
    "redshift": "journey_sql.engines.redshift:RedshiftEngine",
    "snowflake": "journey_sql.engines.snowflake:SnowflakeEngine",
    "bigquery": "journey_sql.engines.bigquery:BigQueryEngine",
    "spark": "journey_sql.engines.spark:SparkEngine",
    "databricks": "journey_sql.engines.databricks:DatabricksEngine",
    "chdb": "journey_sql.engines.clickhouse:ChdbEngine",
    "clickhouse": "journey_sql.engines.clickhouse:ClickHouseEngine",
}


def engine_class(scheme: str) -> type[Engine]:
    from journey_sql.errors import ConfigError

    target = _ENGINES.get(scheme)
    if target is None:
        raise ConfigError(f"Connections of type {scheme!r} are not supported by this version of journey-sql yet.")
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def connect(url: str, secrets: dict[str, str] | None = None, **options: Any) -> Engine:
    spec: ConnectionSpec = parse_connection(url)
    if secrets:
        spec = dataclasses.replace(spec, secrets=dict(secrets))
    return engine_class(spec.scheme).connect(spec, **options)


__all__ = ["Engine", "connect", "engine_class"]
