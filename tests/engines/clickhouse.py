"""ClickHouse as the tests see it: journey_sql's ChdbEngine on embedded ClickHouse
(the chdb package: a real ClickHouse server in this process) with a data directory.

chdb holds one data directory per process, so the whole test session shares
one (any number of connections may use it); a test that wants a directory of
its own runs journey-sql in a subprocess.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import shutil
import tempfile
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from harness import SOURCE_COLUMNS, EngineHarness

# The source's column types as a RudderStack-like ClickHouse table might have
# them: Nullable and LowCardinality wrappers, one zone-less DateTime64 (UTC in
# journey-sql's session) and one in 'UTC'. The source check and toDateTime64
# must see through all of them.
SOURCE_TYPES = {
    "id": "Nullable(String)",
    "anonymous_id": "Nullable(String)",
    "user_id": "LowCardinality(Nullable(String))",
    "event": "LowCardinality(Nullable(String))",
    "timestamp": "Nullable(DateTime64(6, 'UTC'))",
    "received_at": "Nullable(DateTime64(6))",
}
INSERT_CHUNK = 5000


def literal(value: Any) -> str:
    """A ClickHouse literal for a fixture value (test data only; never user input)."""
    if value is None:
        return "NULL"
    if isinstance(value, datetime):
        return f"'{value.isoformat(sep=' ', timespec='microseconds')}'"
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


def load_tracks(engine: Any, rows: list[dict[str, Any]], schema: str = "rudder", table: str = "tracks") -> None:
    engine.execute(f"CREATE DATABASE IF NOT EXISTS {schema}")
    engine.execute(f"DROP TABLE IF EXISTS {schema}.{table}")
    columns = ", ".join(f"{c} {SOURCE_TYPES[c]}" for c in SOURCE_COLUMNS)
    engine.execute(
        f"CREATE TABLE {schema}.{table} ({columns}, context_library_name String) ENGINE = MergeTree ORDER BY tuple()"
    )
    for start in range(0, len(rows), INSERT_CHUNK):
        values = ", ".join(
            "(" + ", ".join(literal(r[c]) for c in SOURCE_COLUMNS) + ", 'test')"
            for r in rows[start : start + INSERT_CHUNK]
        )
        engine.execute(f"INSERT INTO {schema}.{table} VALUES {values}")


class ClickHouseHarness(EngineHarness):
    name = "clickhouse"

    def load(self, rows: list[dict[str, Any]], schema: str = "rudder", table: str = "tracks") -> None:
        load_tracks(self.engine, rows, schema, table)


_directory: list[str] = []


def data_url() -> str:
    """The test process's one chdb data directory, removed when the process exits."""
    if not _directory:
        _directory.append(tempfile.mkdtemp(prefix="jsql-chdb-"))
        atexit.register(shutil.rmtree, _directory[0], True)
    return f"chdb:///{_directory[0]}/data"


@contextlib.contextmanager
def clickhouse_session() -> Iterator[ClickHouseHarness]:
    if importlib.util.find_spec("chdb") is None:
        pytest.skip("chdb is not installed: pip install 'journey-sql[chdb]'")
    from journey_sql.engines.connection import connect

    engine = connect(data_url(), create=True)
    try:
        yield ClickHouseHarness(engine)
    finally:
        engine.close()
