"""Snowflake as the tests see it: journey_sql's SnowflakeEngine over the real
snowflake.connector API, with fakesnow standing in for the warehouse in-process.

fakesnow (pinned with the connector and sqlglot, see pyproject's test extra)
runs Snowflake SQL on DuckDB. What it cannot check is listed in
tests/test_engine_snowflake.py; the tests there cover the rest.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from harness import SOURCE_COLUMNS, EngineHarness

from journey_sql.engines.connection import parse_connection
from journey_sql.engines.snowflake import SnowflakeEngine

URL = "snowflake://tester@testacct/JOURNEY_TEST?warehouse=TEST_WH&role=TESTER"
INSERT_CHUNK = 1000  # rows per INSERT: one statement each, as the connector would batch them
# RudderStack writes each client's offset; some rows carry one so that
# nothing can depend on the wall-clock reading of a TIMESTAMP_TZ.
OFFSET = timezone(timedelta(hours=5, minutes=30))

_patched = False


@contextlib.contextmanager
def fakesnow_patched() -> Iterator[None]:
    """fakesnow's patch of snowflake.connector.connect, entered once however many users nest it.

    fakesnow refuses to patch twice, and the cross-engine session and the
    engine tests may both be open; every database lives in the same fake.
    """
    global _patched
    try:
        import fakesnow
        import fakesnow.transforms.stage as fakesnow_stage
    except ImportError as err:
        pytest.skip(f"fakesnow is not installed ({err.name}): pip install 'fakesnow==0.12.1'")
    if _patched:
        yield
        return
    with fakesnow.patch(db_path=None, create_database_on_connect=True, create_schema_on_connect=True):
        _patched = True
        try:
            yield
        finally:
            _patched = False
            # fakesnow makes an (empty) stage directory in /tmp at import
            shutil.rmtree(fakesnow_stage.LOCAL_BUCKET_PATH, ignore_errors=True)


def connect_engine(url: str = URL) -> SnowflakeEngine:
    """A SnowflakeEngine through the connector's connect(), which fakesnow intercepts when patched."""
    spec = dataclasses.replace(parse_connection(url), secrets={"password": "not-a-real-password"})
    return SnowflakeEngine.connect(spec)


def load_tracks(
    engine: SnowflakeEngine, rows: list[dict[str, Any]], schema: str = "rudder", table: str = "tracks"
) -> None:
    """(Re)create the source table exactly as RudderStack's Snowflake destination does:
    quoted upper-case names, TIMESTAMP_TZ for datetimes, VARCHAR for strings."""
    schema_q, table_q = f'"{schema.upper()}"', f'"{table.upper()}"'
    engine.execute(f"CREATE SCHEMA IF NOT EXISTS {schema_q}")
    engine.execute(
        f"CREATE OR REPLACE TABLE {schema_q}.{table_q} ("
        '"ID" VARCHAR, "ANONYMOUS_ID" VARCHAR, "USER_ID" VARCHAR, "EVENT" VARCHAR, '
        '"TIMESTAMP" TIMESTAMP_TZ, "RECEIVED_AT" TIMESTAMP_TZ, "CONTEXT_LIBRARY_NAME" VARCHAR)'
    )
    values = [[_bind(r[c], i) for c in SOURCE_COLUMNS] + ["rudder-sdk-js"] for i, r in enumerate(rows)]
    width = len(SOURCE_COLUMNS) + 1
    with engine.con.cursor() as cur:
        for start in range(0, len(values), INSERT_CHUNK):
            chunk = values[start : start + INSERT_CHUNK]
            placeholders = ", ".join(["(" + ", ".join(["%s"] * width) + ")"] * len(chunk))
            cur.execute(f"INSERT INTO {schema_q}.{table_q} VALUES {placeholders}", [v for row in chunk for v in row])


def _bind(value: Any, index: int) -> Any:
    """Fixture timestamps are naive UTC; bind them as instants, every other row at another offset."""
    if isinstance(value, datetime):
        value = value.replace(tzinfo=UTC)
        return value.astimezone(OFFSET) if index % 2 else value
    return value


class SnowflakeHarness(EngineHarness):
    name = "snowflake"

    def load(self, rows: list[dict[str, Any]], schema: str = "rudder", table: str = "tracks") -> None:
        load_tracks(self.engine, rows, schema, table)

    def quote(self, column: str) -> str:
        # The exact name Snowflake stores for an unquoted identifier. A quoted
        # lower-case name would match nothing on Snowflake (fakesnow is lenient).
        return f'"{column.upper()}"'


@contextlib.contextmanager
def snowflake_session() -> Iterator[SnowflakeHarness]:
    with fakesnow_patched():
        harness = SnowflakeHarness(connect_engine())
        try:
            yield harness
        finally:
            harness.engine.close()
