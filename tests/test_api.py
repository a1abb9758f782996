"""The public API (journey_sql.api): its documented example runs as written, and it is what the CLI runs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb

import journey_sql.api as api
from journey_sql.demo.data import generate


def docstring_example() -> str:
    """The indented block of api.__doc__ after the line that introduces it."""
    doc = api.__doc__ or ""
    block = doc.split("the same way:\n\n", 1)[1].split("\n\n", 1)[0] + "\n"
    rest = doc.split("the same way:\n\n", 1)[1].split("\n\n", 1)[1]
    # the example spans blank lines: take every indented paragraph up to the first unindented one
    for paragraph in rest.split("\n\n"):
        if not paragraph.startswith("    "):
            break
        block += "\n" + paragraph + "\n"
    return textwrap.dedent(block)


def test_the_documented_example_runs_on_the_demo_file(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "journey.duckdb"))
    generate(con, 2000, seed=3)
    con.close()
    code = docstring_example()
    assert "api.apply(" in code and "api.render(" in code
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "CREATE OR REPLACE TABLE analytics.dbt_tracks_flow" in result.stdout  # Snowflake's DDL
    assert "dbt_tracks_flow" in result.stdout and "full " in result.stdout  # the progress lines, the first build
    con = duckdb.connect(str(tmp_path / "journey.duckdb"), read_only=True)
    counted = con.execute("SELECT count(*) FROM analytics.dbt_mapped_tracks").fetchone()
    con.close()
    assert counted is not None and counted[0] > 0
    assert f"full {counted[0]} " in result.stdout  # report.mode, report.events


def test_the_cli_and_the_api_render_the_same_script() -> None:
    settings = api.Settings.create(schema="an", depth=3)
    from click.testing import CliRunner

    from journey_sql.cli.app import cli

    out = CliRunner().invoke(cli, ["render", "--dialect", "bigquery", "--schema", "an", "--depth", "3"])
    assert out.exit_code == 0, out.output
    assert out.output == api.render(settings, "bigquery")
