"""The real dbt for the tests: a worker process in the dbt venv (tests/dbt_worker.py), and profiles for it.

dbt-core cannot share the test venv (it pins pathspec<0.13 and protobuf<7, which mypy and the BigQuery
client outgrew), so it lives in a venv of its own: .ci/run makes `.ci-dbt-venv` and names its Python in
JOURNEY_SQL_DBT_PYTHON. Without one the dbt tests skip, saying how to make it; under CI they fail instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKER = Path(__file__).with_name("dbt_worker.py")
INSTALL_HINT = (
    "the dbt tests need dbt in a venv of its own: python3 -m venv .ci-dbt-venv && "
    ".ci-dbt-venv/bin/pip install '.[dbt]' 'dbt-postgres~=1.11.0' (or set JOURNEY_SQL_DBT_PYTHON)"
)


def dbt_python() -> Path | None:
    named = os.environ.get("JOURNEY_SQL_DBT_PYTHON")
    candidates = [Path(named)] if named else [ROOT / ".ci-dbt-venv" / "bin" / "python"]
    return next((p for p in candidates if p.exists()), None)


class Dbt:
    """dbt commands, answered by one long-lived worker (importing dbt costs more than a small run)."""

    def __init__(self, python: Path) -> None:
        self.log = tempfile.NamedTemporaryFile(prefix="jsql-dbt-", suffix=".log", delete=False)  # noqa: SIM115
        self.process = subprocess.Popen(
            [str(python), str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1"},
        )
        if json.loads(self._line()) != {"ready": True}:
            raise RuntimeError("the dbt worker did not start")

    def _line(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the dbt worker stopped; its output:\n{self.tail()}")
        return line

    def tail(self, chars: int = 4000) -> str:
        return Path(self.log.name).read_text(errors="replace")[-chars:]

    def __call__(self, *args: str, env: dict[str, str] | None = None, ok: bool = True) -> dict[str, Any]:
        """Run `dbt ARGS`; with ok (the default) the command must succeed."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"args": list(args), "env": env or {}}) + "\n")
        self.process.stdin.flush()
        answer: dict[str, Any] = json.loads(self._line())
        answer["text"] = "\n".join(answer["messages"])
        if ok and not answer["success"]:
            failed = [n for n in answer["nodes"] if n["status"] not in ("success", "pass")]
            raise AssertionError(
                f"dbt {' '.join(args)} failed: {answer['exception']}\n{failed}\n{answer['text'][-3000:]}"
            )
        return answer

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)


def start_dbt() -> Dbt:
    python = dbt_python()
    if python is None:
        if os.environ.get("CI"):
            pytest.fail(INSTALL_HINT + "; under CI the dbt tests must run")
        pytest.skip(INSTALL_HINT)
    return Dbt(python)


def write_profiles(folder: Path, output: dict[str, Any], profile: str = "journey_sql") -> Path:
    """A profiles.yml with one output, `dev`, in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    body = {profile: {"target": "dev", "outputs": {"dev": {"threads": 1, **output}}}}
    (folder / "profiles.yml").write_text(yaml.safe_dump(body, sort_keys=False))
    return folder
