"""The shell examples of the README and of every page in docs/, run as a reader would.

Each page's examples run in the page's order, one after another, in one fresh
directory, so an example must work after every example above it on the same
page (an example that rebuilds a schema a later one reads, with other settings
or other event names, fails here); a docs page starts from nothing, so its first
examples make what the rest need (usually `journey-sql demo`). Blocks that need
a warehouse, a server or a JVM, and the developer commands, are left out, each
for the reason given in SKIPPED; a page none of whose examples run is named in
NOT_RUN with the reason.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]

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
    "--dialect postgres": "dbt on PostgreSQL: tests/test_dbt.py builds such a project on a throwaway cluster",
}

# pages with shell examples none of which runs here, and why
NOT_RUN = {
    "dbt.md": "its example builds on PostgreSQL (see SKIPPED); the README runs the DuckDB one",
    "development.md": "the developer commands: lint, types and this suite",
    "performance.md": "the benchmarks take minutes (tests/test_benchmark_smoke.py runs them small)",
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


def test_every_page_with_examples_runs_some_or_says_why_not() -> None:
    for page in PAGES:
        blocks = shell_blocks(page.read_text())
        if blocks and not any(runnable(b) for b in blocks):
            assert page.name in NOT_RUN, f"{page.name}: no example runs here; fix them or name it in NOT_RUN"
        elif page.name in NOT_RUN:
            raise AssertionError(f"{page.name} is in NOT_RUN but has examples that run: take it out")
    assert any("journey-sql demo" in b for b in shell_blocks(README.read_text()) if runnable(b))
    assert any("journey-sql funnel" in b for b in shell_blocks(README.read_text()) if runnable(b))


@pytest.mark.parametrize(
    "page",
    [p for p in PAGES if any(runnable(b) for b in shell_blocks(p.read_text()))],
    ids=lambda p: p.name,
)
def test_the_examples_run_in_order_in_one_directory(page: Path, tmp_path: Path) -> None:
    chosen = [b for b in shell_blocks(page.read_text()) if runnable(b)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOURNEY_SQL_")}
    # `python` and `journey-sql` are this environment's; the package is installed already
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    # `dbt` is the dbt venv's (tests/dbt_runner.py says why it has its own)
    from dbt_runner import INSTALL_HINT, dbt_python

    dbt = dbt_python()
    if dbt is not None:
        env["PATH"] = f"{env['PATH']}{os.pathsep}{dbt.parent}"
        env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    elif os.environ.get("CI") and any("dbt build" in b for b in chosen):
        pytest.fail(INSTALL_HINT + f"; under CI {page.name}'s dbt example must run")
    else:
        chosen = [b for b in chosen if "dbt build" not in b]
    for number, block in enumerate(chosen, start=1):
        script = "set -euo pipefail\npip() { :; }\n" + block
        result = subprocess.run(
            ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
        )
        assert result.returncode == 0, (
            f"{page.name} example {number} of {len(chosen)} failed (exit {result.returncode}):\n{block}\n"
            f"--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-3000:]}"
        )
        assert "Traceback" not in result.stderr, result.stderr


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but `-` and `_` dropped, spaces to `-`."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_every_relative_link_of_the_pages_reaches_a_file_and_heading() -> None:
    broken = []
    for page in PAGES:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"[a-z]+://", target):
                continue
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.exists():
                broken.append(f"{page.name}: {target} (no such file)")
            elif anchor and linked.suffix == ".md":
                headings = re.findall(r"^#+ (.*)$", linked.read_text(), re.MULTILINE)
                if anchor not in {_anchor(h) for h in headings}:
                    broken.append(f"{page.name}: {target} (no such heading)")
    assert not broken, "\n".join(broken)
