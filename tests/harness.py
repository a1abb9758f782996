"""Engines as the tests see them: load source rows, run the real pipeline, read the tables back.

Each harness goes through journey_sql's own engine classes and executor; only
loading the fixture rows and reading results back is test code.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from typing import Any, Protocol

from journey_sql.core.stages import STAGES, stage_columns
from journey_sql.run.pipeline import run_pipeline
from journey_sql.run.results import RunReport
from journey_sql.settings.options import Settings

SOURCE_COLUMNS = ["id", "anonymous_id", "user_id", "event", "timestamp", "received_at"]


class Harness(Protocol):
    name: str

    def load(self, rows: list[dict[str, Any]], schema: str = "rudder", table: str = "tracks") -> None: ...

    def run(self, settings: Settings, full_refresh: bool = True) -> RunReport: ...

    def fetch(self, settings: Settings) -> dict[str, list[tuple]]: ...


class EngineHarness:
    """Common part: run the executor on a journey_sql Engine and select the tables back."""

    name = "engine"

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def run(self, settings: Settings, full_refresh: bool = True) -> RunReport:
        """A full refresh unless asked otherwise: most tests load unrelated sources one after another."""
        return run_pipeline(self.engine, settings, full_refresh=full_refresh)

    def fetch(self, settings: Settings) -> dict[str, list[tuple]]:
        result = {}
        for stage in STAGES:
            cols = ", ".join(self.quote(c) for c in stage_columns(stage, settings.depth, settings.count_columns))
            result[stage.name] = [
                tuple(r) for r in self.engine.query(f"SELECT {cols} FROM {settings.schema}.{stage.name}")
            ]
        return result

    def quote(self, column: str) -> str:
        return f'"{column}"'


class DuckDBHarness(EngineHarness):
    name = "duckdb"

    def __init__(self) -> None:
        from journey_sql.engines.connection import connect

        super().__init__(connect("duckdb:///:memory:", threads=2))

    def load(self, rows: list[dict[str, Any]], schema: str = "rudder", table: str = "tracks") -> None:
        con = self.engine.con
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        con.execute(
            f"CREATE OR REPLACE TABLE {schema}.{table} (id VARCHAR, anonymous_id VARCHAR, user_id VARCHAR, "
            "event VARCHAR, timestamp TIMESTAMP, received_at TIMESTAMP, context_library_name VARCHAR)"
        )
        if rows:
            con.executemany(
                f"INSERT INTO {schema}.{table} VALUES (?, ?, ?, ?, ?, ?, 'test')",
                [[r[c] for c in SOURCE_COLUMNS] for r in rows],
            )

    def close(self) -> None:
        self.engine.close()


@contextlib.contextmanager
def duckdb_session() -> Iterator[DuckDBHarness]:
    h = DuckDBHarness()
    try:
        yield h
    finally:
        h.close()


# Engine name -> "module:function". Each function is a context manager that
# starts whatever the engine needs (a cluster, an emulator, a SparkSession),
# yields a Harness, and tears it all down. It raises pytest.skip only when the
# engine truly cannot run on this machine, saying why.
SESSIONS: dict[str, str] = {
    "duckdb": "harness:duckdb_session",
    "postgres": "engines.pg:postgres_session",
    "redshift": "engines.pg:redshift_session",
    "snowflake": "engines.snowflake:snowflake_session",
    "bigquery": "engines.bigquery:bigquery_session",
    "spark": "engines.spark:spark_session",
    "clickhouse": "engines.clickhouse:clickhouse_session",
}


def open_session(name: str) -> contextlib.AbstractContextManager[Harness]:
    module, _, func = SESSIONS[name].partition(":")
    return getattr(importlib.import_module(module), func)()


def break_step(monkeypatch: Any, name: str, sql: str = "SELECT no_such_column FROM no_such_table") -> None:
    """Make `apply` build step `name` from `sql` (a failing query), through the plan it executes."""
    import dataclasses

    import sqlglot

    import journey_sql.run.pipeline as executor
    from journey_sql.compile.plan import create_statements

    real = executor.compile_plan

    def compile_broken(settings: Settings, dialect: Any, *args: Any, **kwargs: Any) -> Any:
        plan = real(settings, dialect, *args, **kwargs)
        select = sqlglot.parse_one(sql)
        steps = tuple(
            dataclasses.replace(s, select=select, statements=create_statements(s.name, dialect, s.relation, select))
            if s.name == name
            else s
            for s in plan.steps
        )
        return dataclasses.replace(plan, steps=steps)

    monkeypatch.setattr(executor, "compile_plan", compile_broken)
