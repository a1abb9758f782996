"""BigQuery for the tests: the real google-cloud-bigquery client against a local bqemulator.

The emulator lives in its own virtualenv (it pins an older sqlglot), built by
.ci/bigquery-emulator.sh. It executes SQL by translating it to DuckDB, so it
proves the client code path (datasets, jobs, copy jobs, types coming back),
not that our SQL is valid BigQuery; test_engine_bigquery.py checks the
rendered SQL against BigQuery's rules separately.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from harness import SOURCE_COLUMNS, EngineHarness

EMULATOR_ENV = "JOURNEY_SQL_BQ_EMULATOR"
DEFAULT_EMULATOR = Path("/tmp/jsql-bqemu/bin/jsql-bqemulator")
PROJECT = "test"
LOCATION = "US"
STARTUP_SECONDS = 60.0


def emulator_executable() -> str | None:
    configured = os.environ.get(EMULATOR_ENV)
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    if os.access(DEFAULT_EMULATOR, os.X_OK):
        return str(DEFAULT_EMULATOR)
    return shutil.which("jsql-bqemulator")


SETUP_SCRIPT = Path(__file__).resolve().parents[2] / ".ci" / "bigquery-emulator.sh"


def install_emulator() -> str | None:
    """Build the emulator's own venv on first use (about 30 s), so a plain `pytest` covers BigQuery too."""
    if os.environ.get(EMULATOR_ENV) or not SETUP_SCRIPT.is_file():
        return None
    result = subprocess.run(["bash", str(SETUP_SCRIPT)], capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        pytest.skip(f"BigQuery emulator could not be installed by {SETUP_SCRIPT}: {result.stderr.strip()[-500:]}")
    path = result.stdout.strip().splitlines()[-1]
    return path if os.access(path, os.X_OK) else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def emulator() -> Iterator[str]:
    """A running emulator for this pytest session; yields its endpoint URL."""
    executable = emulator_executable() or install_emulator()
    if executable is None:
        pytest.skip("BigQuery emulator not installed: run .ci/bigquery-emulator.sh")
    port = _free_port()
    log = tempfile.NamedTemporaryFile(prefix="jsql-bqemu-", suffix=".log", delete=False)
    proc = subprocess.Popen(
        [
            executable,
            "start",
            "--rest-host",
            "127.0.0.1",
            "--rest-port",
            str(port),
            "--grpc-port",
            "0",
            "--project",
            PROJECT,
            "--log-level",
            "warning",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"bqemulator exited with {proc.returncode}; see {log.name}")
            try:
                with urllib.request.urlopen(f"{endpoint}/readyz", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"bqemulator not ready after {STARTUP_SECONDS:.0f} s; see {log.name}")
            time.sleep(0.1)
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()
        os.unlink(log.name)


@contextlib.contextmanager
def endpoint_env(endpoint: str) -> Iterator[None]:
    """Point journey_sql's BigQuery engine at the emulator (the documented escape hatch)."""
    from journey_sql.engines.bigquery import ENDPOINT_ENV

    old = os.environ.get(ENDPOINT_ENV)
    os.environ[ENDPOINT_ENV] = endpoint
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(ENDPOINT_ENV, None)
        else:
            os.environ[ENDPOINT_ENV] = old


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(sep=" ", timespec="microseconds")
    return value


class BigQueryHarness(EngineHarness):
    name = "bigquery"

    def __init__(self, engine: Any, endpoint: str) -> None:
        super().__init__(engine)
        self.client = engine.client
        self.endpoint = endpoint  # for tests that open their own connection (set JOURNEY_SQL_BIGQUERY_ENDPOINT)

    def quote(self, column: str) -> str:
        return f"`{column}`"  # "timestamp" would be a string literal in BigQuery

    def load(self, rows: list[dict[str, Any]], schema: str = "rudder", table: str = "tracks") -> None:
        from google.cloud import bigquery

        self.engine.create_schema(schema)
        ref = f"{PROJECT}.{schema}.{table}"
        fields = [
            bigquery.SchemaField(c, "TIMESTAMP" if c in ("timestamp", "received_at") else "STRING")
            for c in SOURCE_COLUMNS
        ] + [bigquery.SchemaField("context_library_name", "STRING")]
        if not rows:  # the emulator rejects an empty upload
            self.client.delete_table(ref, not_found_ok=True)
            self.client.create_table(bigquery.Table(ref, schema=fields))
            return
        # A batch load job, as a real pipeline would: insert_rows_json streams into a buffer
        # that BigQuery's copy jobs and DML do not see at once.
        data = "\n".join(
            json.dumps({**{c: _json_value(r[c]) for c in SOURCE_COLUMNS}, "context_library_name": "test"}) for r in rows
        ).encode()
        config = bigquery.LoadJobConfig(
            schema=fields,
            source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
            write_disposition="WRITE_TRUNCATE",
        )
        self.client.load_table_from_file(io.BytesIO(data), ref, job_config=config).result()

    def close(self) -> None:
        self.engine.close()


@contextlib.contextmanager
def bigquery_session() -> Iterator[BigQueryHarness]:
    pytest.importorskip(
        "google.cloud.bigquery", reason="google-cloud-bigquery not installed: pip install 'journey-sql[bigquery]'"
    )
    from journey_sql.engines.connection import connect

    with emulator() as endpoint:
        # only while connecting: the variable must not leak into other tests of the session
        with endpoint_env(endpoint):
            harness = BigQueryHarness(connect(f"bigquery://{PROJECT}?location={LOCATION}"), endpoint)
        try:
            yield harness
        finally:
            harness.close()
