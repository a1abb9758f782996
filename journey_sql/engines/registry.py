"""Which engines exist, and every table derived from them.

ENGINE_CLASSES is the only list: "module:Class" of each engine. Everything
else (URL schemes and their aliases, examples for error messages, dbt
profile converters) is read off the classes, so a new warehouse is one engine
module and one line here. Importing an engine module imports no driver
(drivers load in connect), so `render` and parsing a URL stay connector-free.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from journey_sql.engines.base import Engine

ENGINE_CLASSES: tuple[str, ...] = (
    "journey_sql.engines.duckdb:DuckDBEngine",
    "journey_sql.engines.postgres:PostgresEngine",
    "journey_sql.engines.redshift:RedshiftEngine",
    "journey_sql.engines.snowflake:SnowflakeEngine",
    "journey_sql.engines.bigquery:BigQueryEngine",
    "journey_sql.engines.spark:SparkEngine",
    "journey_sql.engines.databricks:DatabricksEngine",
    "journey_sql.engines.clickhouse:ChdbEngine",
    "journey_sql.engines.clickhouse:ClickHouseEngine",
)


@cache
def engines() -> tuple[type[Engine], ...]:
    classes = []
    for path in ENGINE_CLASSES:
        module, _, name = path.partition(":")
        classes.append(getattr(importlib.import_module(module), name))
    return tuple(classes)


@cache
def by_scheme() -> dict[str, type[Engine]]:
    """URL scheme (and each alias) -> engine class. Two engines claiming one scheme is a programming error."""
    table: dict[str, type[Engine]] = {}
    for cls in engines():
        for scheme in (cls.scheme, *cls.scheme_aliases):
            if scheme in table:
                raise RuntimeError(f"Scheme {scheme!r} is claimed by {table[scheme].__name__} and {cls.__name__}.")
            table[scheme] = cls
    return table


def examples() -> dict[str, str]:
    """Scheme -> example URL(s), in ENGINE_CLASSES order, for error messages."""
    return {cls.scheme: cls.example for cls in engines()}


@cache
def dbt_converters() -> dict[str, Callable[[dict[str, Any]], tuple[str, dict[str, str]]]]:
    """dbt adapter type -> the engine classmethod turning a profile output into (URL, secrets)."""
    table: dict[str, Callable[[dict[str, Any]], tuple[str, dict[str, str]]]] = {}
    for cls in engines():
        for kind in cls.dbt_types:
            if kind in table:
                raise RuntimeError(f"dbt type {kind!r} is claimed by two engines (one is {cls.__name__}).")
            table[kind] = cls.from_dbt_profile
    return table
