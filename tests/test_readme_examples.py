"""The README's shell examples, run as a reader would: in README order, one after another, in one directory.

Each example must work after every example above it, so an example that
rebuilds a schema a later one reads (with other settings or other event
names) fails here. Blocks that need a warehouse, a server or a JVM, and the
developer commands, are left out, each for the reason given in SKIPPED.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"

# a block holding any of these is not run here, and why
SKIPPED = {
    "postgresql://": "needs a PostgreSQL server (tests/test_engine_postgres.py)",
    "redshift://": "needs a Redshift cluster",
    "snowflake://": "needs a Snowflake account",
    "bigquery://": "needs a Google Cloud project",
    "databricks://": "needs a Databricks workspace",
    "clickhouse://": "needs a ClickHouse server",
    "spark://": "starts JVMs (tests/test_engine_spark.py)",
    "chdb": "run as is in its own process by tests/test_engine_clickhouse.py",
    "benchmarks/": "the benchmark takes minutes",
    "pytest": "the test suite itself",
}


def shell_blocks(text: str) -> list[str]:
    """The README's fenced blocks without a language: the shell examples (```toml and the like are not)."""
    blocks: list[str] = []
    language: str | None = None  # inside a block: its language ("" for none)
    lines: list[str] = []
    for line in text.splitlines():
        fence = re.fullmatch(r"```(\w*)\s*", line)
        if fence and language is None:
            language, lines = fence.group(1), []
        elif fence and not fence.group(1):
            if language == "":
                blocks.append("\n".join(lines) + "\n")
            language = None
        elif language is not None:
            lines.append(line)
    return blocks


def runnable(block: str) -> bool:
    return not any(marker in block for marker in SKIPPED)


def test_the_readme_examples_run_in_order_in_one_directory(tmp_path: Path) -> None:
    blocks = shell_blocks(README.read_text())
    chosen = [b for b in blocks if runnable(b)]
    assert any("journey-sql demo" in b for b in chosen) and any("journey-sql funnel" in b for b in chosen)
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOURNEY_SQL_")}
    # `python` and `journey-sql` are this environment's; the package is installed already
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    # `dbt` is the dbt venv's (tests/dbt_runner.py says why it has its own)
    from dbt_runner import INSTALL_HINT, dbt_python

    dbt = dbt_python()
    if dbt is not None:
        env["PATH"] = f"{env['PATH']}{os.pathsep}{dbt.parent}"
        env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    elif os.environ.get("CI"):
        pytest.fail(INSTALL_HINT + "; under CI the README's dbt example must run")
    else:
        chosen = [b for b in chosen if "dbt build" not in b]
    for number, block in enumerate(chosen, start=1):
        script = "set -euo pipefail\npip() { :; }\n" + block
        result = subprocess.run(
            ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
        )
        assert result.returncode == 0, (
            f"README example {number} of {len(chosen)} failed (exit {result.returncode}):\n{block}\n"
            f"--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-3000:]}"
        )
        assert "Traceback" not in result.stderr, result.stderr
