"""Runs the real dbt for the tests, in the dbt venv's own Python (dbt-core pins libraries the test venv
cannot share: pathspec<0.13 and protobuf<7).

One process serves every dbt command of a test session, since importing dbt costs more than a small
`dbt run`: each line on stdin is a JSON request {"args": [...], "env": {...}}, run with dbt's programmatic
entry point (dbtRunner, the same code path as the `dbt` command line), and each answer is one JSON line
on the real stdout: whether the command succeeded, its exception, the log messages dbt emitted and, for
run/build/test, each node's status. dbt's own printing goes to stderr.

Started by tests/dbt_runner.py; not a test module and not imported by the test venv.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any


def main() -> None:
    # the tests' folder is not dbt's: its modules (dbt_runner.py) must not shadow anything dbt imports
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # what dbt prints lands on stderr, never in the answers
    sys.stdout = sys.stderr
    from dbt.cli.main import dbtRunner

    messages: list[str] = []

    def collect(event: Any) -> None:
        if event.info.level in ("info", "warn", "error"):
            messages.append(event.info.msg)

    runner = dbtRunner(callbacks=[collect])
    answers.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        request = json.loads(line)
        messages.clear()
        saved = dict(os.environ)
        os.environ.update(request.get("env", {}))
        answer: dict[str, Any]
        try:
            result = runner.invoke(request["args"])
            nodes = []
            for node in getattr(result.result, "results", None) or []:
                if hasattr(node, "node"):
                    nodes.append({"name": node.node.name, "status": str(node.status), "message": node.message})
            answer = {
                "success": result.success,
                "exception": None
                if result.exception is None
                else f"{type(result.exception).__name__}: {result.exception}",
                "messages": list(messages),
                "nodes": nodes,
                "output": result.result if isinstance(result.result, list) else None,
            }
        except BaseException:  # the worker must answer, whatever dbt does
            answer = {"success": False, "exception": traceback.format_exc(), "messages": list(messages), "nodes": []}
        finally:
            release_duckdb()
            os.environ.clear()
            os.environ.update(saved)
        answers.write(json.dumps(answer, default=str) + "\n")


def release_duckdb() -> None:
    """dbt-duckdb keeps its database open for the life of the process (a `dbt` command's process ends with
    the command): close it, so the tests can open the file between commands as a user's tools can."""
    connections = sys.modules.get("dbt.adapters.duckdb.connections")
    if connections is None:
        return
    manager = connections.DuckDBConnectionManager
    with manager._LOCK:
        if manager._ENV is not None:
            manager._ENV.close()
            manager._ENV = None


if __name__ == "__main__":
    main()
