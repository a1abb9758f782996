"""What a new user trips over (issue 27): each check runs the real CLI in its own process.

Unknown event names, a closed pipe, Ctrl-C during the demo, text that must be
true, where a bad setting came from, and a no-op incremental run.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOURNEY_SQL_")}
    return {**env, **(extra or {})}


def jsql(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "journey_sql", *args],
        cwd=cwd,
        env=_env(env),
        capture_output=True,
        text=True,
        timeout=300,
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "journey-sql failed" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    result = jsql("demo", "--events", "3000", "--seed", "4", "--database", "demo.duckdb", cwd=folder)
    assert result.returncode == 0, result.stderr
    return folder / "demo.duckdb"


@pytest.fixture
def demo(demo_file: Path, tmp_path: Path) -> Path:
    """A copy of the demo's file as journey.duckdb, the default connection, in the test's directory."""
    shutil.copy(demo_file, tmp_path / "journey.duckdb")
    return tmp_path


# -- 1. unknown event names ---------------------------------------------------------------------


def test_an_event_name_that_occurs_nowhere_fails_with_the_closest_names(demo: Path) -> None:
    error = one_line_error(jsql("funnel", "product_viewed", "Order Complete", "Checkout Started", cwd=demo))
    assert "'product_viewed'" in error and "Did you mean 'Product Viewed'?" in error
    assert "'Order Complete'" in error and "Did you mean 'Order Completed'?" in error
    assert "'Checkout Started'" not in error and "--allow-missing-events" in error

    allowed = jsql("funnel", "product_viewed", "Product Added", "--allow-missing-events", "--format", "csv", cwd=demo)
    assert allowed.returncode == 0, allowed.stderr
    assert "warning:" in allowed.stderr and "Did you mean 'Product Viewed'?" in allowed.stderr
    assert allowed.stdout.splitlines()[1] == "1,product_viewed,0,,"

    error = one_line_error(jsql("paths", "--start-event", "Product viewd", "--format", "csv", cwd=demo))
    assert "Did you mean 'Product Viewed'" in error

    error = one_line_error(jsql("report", "--funnel", "order completed", "--output", "r.html", cwd=demo))
    assert "Did you mean 'Order Completed'?" in error
    assert not (demo / "r.html").exists()


def test_a_count_event_that_occurs_nowhere_warns_and_builds(demo: Path) -> None:
    result = jsql("apply", "--schema", "counted", "--count-event", "Order Complete", cwd=demo)
    assert result.returncode == 0, result.stderr
    warning = [line for line in result.stderr.splitlines() if line.startswith("warning: --count-event")]
    assert len(warning) == 1 and "Did you mean 'Order Completed'?" in warning[0], result.stderr
    con = duckdb.connect(str(demo / "journey.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT SUM(cnt_order_complete) FROM counted.dbt_session_track_facts").fetchone() == (0,)
    finally:
        con.close()


# -- 3. a closed pipe ---------------------------------------------------------------------------


def _built(path: Path, schema: str) -> bool:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return bool(
            con.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = 'jsql_state'", [schema]
            ).fetchone()[0]
        )
    finally:
        con.close()


def test_a_build_whose_output_pipe_is_closed_commits_and_exits_0(demo: Path) -> None:
    read, write = os.pipe()
    proc = subprocess.Popen(
        [sys.executable, "-m", "journey_sql", "apply", "--schema", "piped"],
        cwd=demo,
        env=_env(),
        stdout=write,
        stderr=write,
    )
    os.close(write)
    os.close(read)  # closed before the run writes its first line: every write meets EPIPE
    assert proc.wait(timeout=120) == 0
    assert _built(demo / "journey.duckdb", "piped")


def test_apply_piped_into_head_commits_and_exits_0(demo: Path) -> None:
    script = f"'{sys.executable}' -m journey_sql apply --schema headed 2>&1 | head -1; exit ${{PIPESTATUS[0]}}"
    result = subprocess.run(["bash", "-c", script], cwd=demo, env=_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("full build: ")
    assert _built(demo / "journey.duckdb", "headed")


def test_an_answer_whose_reader_left_is_not_an_error(demo: Path) -> None:
    read, write = os.pipe()
    proc = subprocess.Popen(
        [sys.executable, "-m", "journey_sql", "paths", "--format", "csv"],
        cwd=demo,
        env=_env(),
        stdout=write,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(write)
    os.close(read)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and err == "", err


# -- 4. Ctrl-C during the demo ------------------------------------------------------------------


def _demo_snapshot(path: Path) -> dict[str, object]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {
            t: con.execute(f"SELECT count(*), sum(hash(x)) FROM {t} AS x").fetchone()
            for t in ("rudder.tracks", "analytics.jsql_events", "analytics.dbt_tracks_flow", "analytics.jsql_state")
        }
    finally:
        con.close()


def _interrupt_demo(folder: Path, database: str, after_lines: int, delay: float) -> subprocess.CompletedProcess[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "journey_sql", "demo", "--events", "2000000", "--seed", "9"]
        + ["--database", database, "--threads", "1"],
        cwd=folder,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    seen = [proc.stderr.readline() for _ in range(after_lines)]
    assert all(seen), seen
    if delay:
        import time

        time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, "".join(seen) + err)


@pytest.mark.parametrize(
    ("after_lines", "delay"),
    [(1, 0.3), (4, 0.0)],  # while generating the sample data; while building (after two stage lines)
    ids=["generating", "building"],
)
def test_ctrl_c_during_the_demo_exits_130_and_leaves_the_previous_demo(
    demo_file: Path, tmp_path: Path, after_lines: int, delay: float
) -> None:
    shutil.copy(demo_file, tmp_path / "demo.duckdb")
    before = _demo_snapshot(tmp_path / "demo.duckdb")
    result = _interrupt_demo(tmp_path, "demo.duckdb", after_lines, delay)
    assert result.returncode == 130, result.stderr
    error = one_line_error(result)
    assert "Interrupted (Ctrl-C)" in error and "rolled back" in error and "previous rudder.tracks" in error, error
    assert _demo_snapshot(tmp_path / "demo.duckdb") == before  # the old source and tables, not a mix


def test_ctrl_c_during_a_first_demo_leaves_no_file(tmp_path: Path) -> None:
    result = _interrupt_demo(tmp_path, "fresh.duckdb", 1, 0.3)
    assert result.returncode == 130, result.stderr
    assert "fresh.duckdb was removed" in one_line_error(result)
    assert not (tmp_path / "fresh.duckdb").exists()


# -- 5. text that must be true ------------------------------------------------------------------


def test_help_counts_the_tables_that_are_built(tmp_path: Path) -> None:
    for command in ([], ["apply"], ["demo"], ["render"]):
        result = jsql(*command, "--help", cwd=tmp_path)
        assert result.returncode == 0 and "five" not in result.stdout, (command, result.stdout)
    assert "eight tables" in " ".join(jsql("apply", "--help", cwd=tmp_path).stdout.split())


def test_demo_names_no_flag_it_was_not_given_and_says_what_it_leaves(demo_file: Path, tmp_path: Path) -> None:
    shutil.copy(demo_file, tmp_path / "demo.duckdb")
    con = duckdb.connect(str(tmp_path / "demo.duckdb"))
    con.execute("CREATE TABLE main.orders AS SELECT 1 AS order_id")
    con.close()
    result = jsql("demo", "--events", "1000", "--database", "demo.duckdb", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "--full-refresh" not in result.stderr
    assert "full build: the demo generated new sample data" in result.stderr
    assert "leaves the other 1 as they are (main.orders)" in result.stderr
    con = duckdb.connect(str(tmp_path / "demo.duckdb"), read_only=True)
    assert con.execute("SELECT * FROM main.orders").fetchall() == [(1,)]
    con.close()
    text = " ".join(README.read_text().split())
    assert "leaves every other table there as it is" in text
    assert "refuses, with a one-line message and no change, a database file that holds any other table" not in text


def test_paths_csv_has_one_column_per_step(demo: Path) -> None:
    result = jsql("paths", "--steps", "3", "--top", "20", "--format", "csv", cwd=demo)
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["rank", "step_1", "step_2", "step_3", "sessions", "share"]
    assert all(len(row) == 6 for row in rows)
    assert any(row[3] == "(end)" for row in rows[1:]) and any(row[3] not in ("", "(end)") for row in rows[1:])


def test_one_event_left_out_is_one_event(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "journey.duckdb"))
    con.execute("CREATE SCHEMA rudder")
    con.execute(
        "CREATE TABLE rudder.tracks (id VARCHAR, anonymous_id VARCHAR, user_id VARCHAR, event VARCHAR, "
        "timestamp TIMESTAMP, received_at TIMESTAMP)"
    )
    con.execute(
        "INSERT INTO rudder.tracks VALUES "
        "('1', 'a', NULL, 'e', TIMESTAMP '2026-01-01 10:00', TIMESTAMP '2026-01-01 10:00'), "
        "('2', NULL, NULL, 'e', TIMESTAMP '2026-01-01 10:01', TIMESTAMP '2026-01-01 10:01')"
    )
    con.close()
    result = jsql("apply", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "1 event left out" in result.stderr and "1 event placed" in result.stderr, result.stderr
    assert "1 events" not in result.stderr and "0 duplicate deliveries dropped" in result.stderr


def test_the_readme_lists_the_dialects_in_the_order_the_command_prints(tmp_path: Path) -> None:
    match = re.search(r"^journey-sql dialects +# (.*)$", README.read_text(), re.MULTILINE)
    assert match, "the README's `journey-sql dialects` line is gone"
    printed = jsql("dialects", cwd=tmp_path).stdout.split()
    assert match.group(1).split(", ") == printed


# -- 6. settings and files ----------------------------------------------------------------------


def test_a_bad_value_is_blamed_on_where_it_came_from(demo: Path) -> None:
    (demo / "journey-sql.toml").write_text("session_timeout = -1\n")
    error = one_line_error(jsql("apply", cwd=demo))
    assert f"session_timeout in {demo / 'journey-sql.toml'} must be greater than 0" in error
    assert "--session-timeout" not in error

    (demo / "journey-sql.toml").write_text('session_timeout = "soon"\n')
    error = one_line_error(jsql("apply", cwd=demo))
    assert "session_timeout in" in error and "--session-timeout" not in error

    (demo / "journey-sql.toml").write_text('[targets.local]\nconnection = "duckdb:///journey.duckdb"\ndepth = 99\n')
    error = one_line_error(jsql("apply", "--target", "local", cwd=demo))
    assert "depth in journey-sql.toml target local must be between 2 and 50" in error
    (demo / "journey-sql.toml").unlink()

    for variable, value in (("JOURNEY_SQL_SESSION_TIMEOUT", "0"), ("JOURNEY_SQL_SESSION_TIMEOUT", "abc")):
        error = one_line_error(jsql("apply", cwd=demo, env={variable: value}))
        assert variable in error and "--session-timeout" not in error, error
    # a flag is still called a flag
    assert "--depth must be between" in one_line_error(jsql("apply", "--depth", "99", cwd=demo))


def test_a_config_file_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    config = tmp_path / "journey-sql.toml"
    if os.geteuid() == 0:  # root reads any file: a read that fails all the same
        config.symlink_to("/proc/self/mem")
    else:
        config.write_text("depth = 4\n")
        config.chmod(0)
    error = one_line_error(jsql("render", cwd=tmp_path))
    assert f"Cannot read {config}" in error


@pytest.mark.parametrize("kind", ["directory", "dangling link"])
def test_a_config_path_that_is_no_file_is_an_error(tmp_path: Path, kind: str) -> None:
    config = tmp_path / "journey-sql.toml"
    if kind == "directory":
        config.mkdir()
    else:
        config.symlink_to(tmp_path / "settings.toml")
    error = one_line_error(jsql("render", cwd=tmp_path))
    assert str(config) in error and ("directory" in error if kind == "directory" else "does not exist" in error)


def test_a_lookback_without_a_unit_is_refused(demo: Path) -> None:
    error = one_line_error(jsql("apply", "--lookback", "3", cwd=demo))
    assert "no unit" in error and "3h" in error


def test_a_missing_source_path_says_so_and_creates_nothing(tmp_path: Path) -> None:
    for path in ("events", "events/*.parquet"):
        error = one_line_error(
            jsql("apply", "--connection", "duckdb:///lake.duckdb", "--source-path", path, cwd=tmp_path)
        )
        assert "does not exist" in error or "matches no file" in error, error
        assert "cannot tell the file format" not in error
        assert not (tmp_path / "lake.duckdb").exists()


# -- 7. an incremental run that changes nothing -------------------------------------------------


def test_a_no_op_incremental_apply_says_so_in_one_line(demo: Path) -> None:
    quiet = jsql("apply", cwd=demo)  # the demo built everything: nothing is new
    assert quiet.returncode == 0, quiet.stderr
    lines = quiet.stderr.strip().splitlines()
    assert len(lines) == 1 and "nothing new, no table changed" in lines[0], quiet.stderr
    assert "source rows checked" in lines[0] or "source row checked" in lines[0]
    verbose = jsql("apply", "--verbose", cwd=demo)
    assert verbose.returncode == 0 and "jsql_new_rows" in verbose.stderr
    assert len(verbose.stderr.strip().splitlines()) > 20
