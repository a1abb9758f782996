"""A run that dies, is interrupted or collides with another leaves the previous tables exactly as they were.

Every run here is the real CLI in its own process, on about 20,000 demo events:

* SIGKILL right after stage k's line appears on stderr (k = 1..4, so stage
  k+1 is running) and after a short timer (before the first stage ends),
  on DuckDB and on PostgreSQL; then the five tables are compared, full and
  sorted, with what the first run left, and the next run must succeed;
* Ctrl-C (SIGINT) mid-stage: exit 130, one line, tables unchanged;
* two concurrent runs into one PostgreSQL schema: the second is told another
  run is building it (the first is paused with SIGSTOP so the overlap is certain);
* DuckDB: a file another process holds, and a memory limit too small to count
  the source, each end in one line.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from journey_sql.core.stages import STAGES
from journey_sql.demo.data import generate
from journey_sql.engines.connection import connect
from journey_sql.run.pipeline import run_pipeline
from journey_sql.settings.options import Settings

EVENTS = 20_000
SOURCE_COLUMNS = ("id", "anonymous_id", "user_id", "event", "timestamp", "received_at")
# a second run that changes every table (and the shape of the flow table)
CHANGED = ["--session-timeout", "7", "--depth", "8"]


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("kill") / "template.duckdb"
    con = duckdb.connect(str(path))
    generate(con, EVENTS, seed=17)
    con.close()
    return path


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOURNEY_SQL_")}
    return {**env, **(extra or {})}


def start(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "journey_sql", "apply", *args],
        cwd=cwd,
        env=_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_stage_lines(proc: subprocess.Popen[str], k: int) -> list[str]:
    """Read stderr until the k-th stage line (the line that names a stage and a row count)."""
    assert proc.stderr is not None
    seen: list[str] = []
    while len(seen) < k:
        line = proc.stderr.readline()
        if not line:
            raise AssertionError(f"run ended before stage line {k}: {seen} rc={proc.wait()}")
        if any(line.startswith(s.name) for s in STAGES):
            seen.append(line)
    return seen


def killed_before_commit(proc: subprocess.Popen[str], k: int) -> bool:
    """SIGKILL the run after stage line k (k = 0: after a short timer); False if it may have committed first.

    The run commits only after the last stage's line, so a run killed before
    printing every stage line was certainly killed mid-run.
    """
    seen = wait_for_stage_lines(proc, k) if k else (time.sleep(0.3) or [])
    proc.send_signal(signal.SIGKILL)
    rest = proc.communicate(timeout=60)[1]
    lines = len(seen) + sum(1 for line in rest.splitlines() if any(line.startswith(s.name) for s in STAGES))
    return proc.returncode == -signal.SIGKILL and lines < len(STAGES)


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out + err


def assert_one_line(output: str, expect: str) -> None:
    """One line of failure, after at most the line saying which kind of build this was."""
    assert expect in output, output
    lines = [
        line for line in output.strip().splitlines() if not line.startswith(("full build: ", "incremental build: "))
    ]
    assert "Traceback" not in output and len(lines) == 1, output


def run_ok(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    code, output = finish(start(args, cwd, env))
    assert code == 0, output
    assert "Traceback" not in output
    return output


# -- DuckDB ----------------------------------------------------------------------------------


def duckdb_snapshot(path: Path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {s.name: con.execute(f"SELECT * FROM analytics.{s.name} ORDER BY ALL").fetchall() for s in STAGES}
    finally:
        con.close()


@pytest.fixture
def duck(template_db: Path, tmp_path: Path) -> Iterator[tuple[Path, list[str]]]:
    path = tmp_path / "w.duckdb"
    shutil.copy(template_db, path)
    yield path, ["--connection", f"duckdb:///{path}", "--threads", "1"]


def test_sigkill_mid_stage_on_duckdb_leaves_the_previous_tables(duck: tuple[Path, list[str]], tmp_path: Path) -> None:
    path, conn = duck
    run_ok(conn, tmp_path)
    before = duckdb_snapshot(path)
    assert all(before.values())
    kills = 0
    for k in (0, 1, 2, 3, 4):
        proc = start([*conn, *CHANGED], tmp_path)
        if not killed_before_commit(proc, k):  # it got to COMMIT first: not a kill point; put the tables back
            run_ok(conn, tmp_path)
            continue
        kills += 1
        assert duckdb_snapshot(path) == before, f"tables changed after a kill at point {k}"
    assert kills >= 4
    run_ok([*conn, *CHANGED], tmp_path)
    after = duckdb_snapshot(path)
    assert after != before and len(after["dbt_tracks_flow"][0]) == len(before["dbt_tracks_flow"][0]) + 3


def test_ctrl_c_mid_stage_on_duckdb_exits_130_and_changes_nothing(duck: tuple[Path, list[str]], tmp_path: Path) -> None:
    path, conn = duck
    run_ok(conn, tmp_path)
    before = duckdb_snapshot(path)
    proc = start([*conn, *CHANGED], tmp_path)
    wait_for_stage_lines(proc, 2)
    proc.send_signal(signal.SIGINT)
    code, output = finish(proc)
    assert code == 130, output
    assert_one_line(output, "Interrupted (Ctrl-C): the run was rolled back, no tables were changed.")
    assert duckdb_snapshot(path) == before


def test_duckdb_file_held_by_another_process_is_one_line(duck: tuple[Path, list[str]], tmp_path: Path) -> None:
    path, conn = duck
    holder = duckdb.connect(str(path))
    try:
        code, output = finish(start(conn, tmp_path))
    finally:
        holder.close()
    assert code == 1
    assert_one_line(output, f"DuckDB file {path} is in use by another process (PID {os.getpid()}")


def test_duckdb_keeps_its_lock_while_a_build_is_written_back(duck: tuple[Path, list[str]]) -> None:
    """engines/duckdb.py fsyncs the file from a second descriptor during a build; closing that one
    before DuckDB closes the file would drop DuckDB's lock (POSIX record locks are per process)."""
    path, _ = duck
    probe = [sys.executable, "-c", f"import duckdb; duckdb.connect({str(path)!r}).close()"]
    engine = connect(f"duckdb:///{path}", threads=1)
    try:
        run_pipeline(engine, Settings.create(), full_refresh=True)
        assert engine._writeback is not None and engine._writeback.thread is not None  # it did write back
        engine._writeback.thread.join()  # every flush finished: nothing else holds the file open
        held = subprocess.run(probe, capture_output=True, text=True)
        assert held.returncode != 0 and "lock" in held.stderr, held.stderr
    finally:
        engine.close()
    assert subprocess.run(probe, capture_output=True, text=True).returncode == 0  # and free once closed


def test_duckdb_memory_limit_too_small_is_one_line(duck: tuple[Path, list[str]], tmp_path: Path) -> None:
    _, conn = duck
    code, output = finish(start([*conn, "--memory-limit", "5MB"], tmp_path))
    assert code == 1
    assert_one_line(output, "Raise --memory-limit (or JOURNEY_SQL_MEMORY_LIMIT)")
    assert "failed on duckdb:///" in output


# -- PostgreSQL --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg(template_db: Path) -> dict[str, Any]:
    from engines.pg import shared_cluster

    cluster = shared_cluster()
    database = cluster.database("jsql_kill", fresh=True)
    src = duckdb.connect(str(template_db), read_only=True)
    rows = src.execute(f"SELECT {', '.join(SOURCE_COLUMNS)} FROM rudder.tracks").fetchall()
    src.close()
    with cluster.admin(dbname=database) as con:
        con.execute("CREATE SCHEMA rudder")
        con.execute(
            'CREATE TABLE rudder.tracks (id text, anonymous_id text, user_id text, event text, "timestamp" '
            "timestamp, received_at timestamp)"
        )
        with con.cursor() as cur, cur.copy(f"COPY rudder.tracks ({', '.join(SOURCE_COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    return {
        "cluster": cluster,
        "database": database,
        "conn": ["--connection", cluster.url(database)],
        "env": {"PGPASSWORD": cluster.password},
    }


def pg_snapshot(pg: dict[str, Any]) -> dict[str, list[tuple]]:
    with pg["cluster"].admin(dbname=pg["database"]) as con:
        return {s.name: sorted(con.execute(f"SELECT * FROM analytics.{s.name}").fetchall(), key=repr) for s in STAGES}


def wait_for_no_run(pg: dict[str, Any], timeout: float = 30) -> None:
    """A killed client's server session ends once the server notices; until then it holds the run's lock."""
    deadline = time.monotonic() + timeout
    with pg["cluster"].admin(dbname=pg["database"]) as con:
        while con.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'journey-sql'").fetchone()[0]:
            assert time.monotonic() < deadline, "a killed run's session did not end"
            time.sleep(0.05)


def test_sigkill_mid_stage_on_postgres_leaves_the_previous_tables(pg: dict[str, Any], tmp_path: Path) -> None:
    run_ok(pg["conn"], tmp_path, pg["env"])
    before = pg_snapshot(pg)
    assert all(before.values())
    kills = 0
    for k in (0, 1, 2, 3, 4):
        proc = start([*pg["conn"], *CHANGED], tmp_path, pg["env"])
        if not killed_before_commit(proc, k):  # it got to COMMIT first: not a kill point; put the tables back
            run_ok(pg["conn"], tmp_path, pg["env"])
            continue
        kills += 1
        wait_for_no_run(pg)
        assert pg_snapshot(pg) == before, f"tables changed after a kill at point {k}"
    assert kills >= 4
    run_ok([*pg["conn"], *CHANGED], tmp_path, pg["env"])
    assert pg_snapshot(pg) != before
    run_ok(pg["conn"], tmp_path, pg["env"])  # back to the first settings for the tests that follow
    assert pg_snapshot(pg) == before


def test_ctrl_c_mid_stage_on_postgres_exits_130_and_changes_nothing(pg: dict[str, Any], tmp_path: Path) -> None:
    run_ok(pg["conn"], tmp_path, pg["env"])
    before = pg_snapshot(pg)
    proc = start([*pg["conn"], *CHANGED], tmp_path, pg["env"])
    wait_for_stage_lines(proc, 1)
    proc.send_signal(signal.SIGINT)
    code, output = finish(proc)
    assert code == 130, output
    assert_one_line(output, "Interrupted (Ctrl-C): the run was rolled back, no tables were changed.")
    wait_for_no_run(pg)
    assert pg_snapshot(pg) == before


def test_a_second_concurrent_run_into_the_same_schema_is_told_to_wait(pg: dict[str, Any], tmp_path: Path) -> None:
    run_ok(pg["conn"], tmp_path, pg["env"])
    before = pg_snapshot(pg)
    first = start([*pg["conn"], *CHANGED], tmp_path, pg["env"])
    try:
        wait_for_stage_lines(first, 1)  # inside its transaction, holding the schema's lock
        first.send_signal(signal.SIGSTOP)
        code, output = finish(start(pg["conn"], tmp_path, pg["env"]))
        assert code == 1
        assert_one_line(output, "Another journey-sql run is building analytics on postgresql://")
        # (the paused run holds its tables' locks: they are compared once it has finished)
        # a run into another schema is not held up
        run_ok([*pg["conn"], "--schema", "analytics_other"], tmp_path, pg["env"])
    finally:
        first.send_signal(signal.SIGCONT)
    code, output = finish(first)
    assert code == 0, output
    assert pg_snapshot(pg) != before


# -- incremental runs --------------------------------------------------------------------------
#
# A source of the demo's oldest 6,000 events (by received_at): the newest 10% of
# them are appended after a full build of the rest; an incremental apply is then
# SIGKILLed at several points. After each
# kill the target schema (tables and state) is exactly as before the run, or
# exactly as the finished run leaves it (a run that got to COMMIT first), and
# the next apply gives the full refresh's tables.

INCREMENTAL = ["--source-table", "tracks_incr", "--schema", "incr"]


def step_lines_seen(proc: subprocess.Popen[str], k: int) -> list[str]:
    """Read stderr until the k-th line that reports a finished step (a table name and a row count)."""
    assert proc.stderr is not None
    seen: list[str] = []
    while len(seen) < k:
        line = proc.stderr.readline()
        if not line:
            raise AssertionError(f"run ended before step line {k}: {seen} rc={proc.wait()}")
        if " rows " in line and (line.startswith("jsql_") or any(line.startswith(s.name) for s in STAGES)):
            seen.append(line)
    return seen


def kill_at(proc: subprocess.Popen[str], k: int) -> bool:
    """SIGKILL after step line k (k = 0: after a short timer); True if the signal killed it."""
    if k:
        step_lines_seen(proc, k)
    else:
        time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    return proc.returncode == -signal.SIGKILL


def duckdb_schema_snapshot(path: Path, schema: str = "incr") -> dict[str, list[tuple]]:
    """Every table in `schema` (the eight tables and whatever state the tool keeps), rows sorted."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = ? ORDER BY 1", [schema]
            ).fetchall()
        ]
        return {n: con.execute(f"SELECT * FROM {schema}.{n} ORDER BY ALL").fetchall() for n in names}
    finally:
        con.close()


def stage_tables(snapshot: dict[str, list[tuple]]) -> dict[str, list[tuple]]:
    return {s.name: snapshot[s.name] for s in STAGES}


@pytest.fixture
def duck_incremental(template_db: Path, tmp_path: Path) -> tuple[Path, list[str]]:
    """A DuckDB file built from 90% of tracks_incr, with the newest 10% appended since."""
    path = tmp_path / "built.duckdb"  # not incr.duckdb: a catalog named like the schema is ambiguous
    shutil.copy(template_db, path)
    conn = ["--connection", f"duckdb:///{path}", "--threads", "1", *INCREMENTAL]
    con = duckdb.connect(str(path))
    cut, end = con.execute("SELECT quantile_disc(received_at, [0.27, 0.3]) FROM rudder.tracks").fetchone()[0]
    con.execute("CREATE TABLE rudder.tracks_incr AS SELECT * FROM rudder.tracks WHERE received_at <= ?", [cut])
    con.close()
    output = run_ok(conn, tmp_path)
    assert "full" in output.lower(), output
    con = duckdb.connect(str(path))
    con.execute(
        "INSERT INTO rudder.tracks_incr SELECT * FROM rudder.tracks WHERE received_at > ? AND received_at <= ?",
        [cut, end],
    )
    con.close()
    return path, conn


def test_sigkill_mid_incremental_run_on_duckdb_then_the_next_run_equals_a_full_refresh(
    duck_incremental: tuple[Path, list[str]], tmp_path: Path
) -> None:
    path, conn = duck_incremental
    pristine = tmp_path / "pristine.duckdb"
    shutil.copy(path, pristine)
    before = duckdb_schema_snapshot(path)

    refreshed = tmp_path / "refreshed.duckdb"
    shutil.copy(pristine, refreshed)
    run_ok(["--connection", f"duckdb:///{refreshed}", "--threads", "1", *INCREMENTAL, "--full-refresh"], tmp_path)
    full = stage_tables(duckdb_schema_snapshot(refreshed))
    assert full != stage_tables(before)

    kills = 0
    for k in (0, 1, 3, 8, 12, 18, 24):  # of ~27 step lines: work tables, then each table's update
        shutil.copy(pristine, path)
        killed = kill_at(start(conn, tmp_path), k)
        after_kill = duckdb_schema_snapshot(path)
        if after_kill != before:  # it got to COMMIT before the signal: then it is the finished run
            assert stage_tables(after_kill) == full, f"a kill at point {k} left a half-built schema"
        else:
            kills += killed
        output = run_ok(conn, tmp_path)
        assert stage_tables(duckdb_schema_snapshot(path)) == full, f"the run after a kill at point {k}: {output}"
    assert kills >= 5


@pytest.fixture
def pg_incremental(pg: dict[str, Any]) -> dict[str, Any]:
    """tracks_incr beside the module's rudder.tracks: the demo's oldest 6,000 events, whose newest 10% the
    test appends after a full build of the rest."""
    with pg["cluster"].admin(dbname=pg["database"]) as con:
        con.execute("DROP TABLE IF EXISTS rudder.tracks_incr")
        con.execute("CREATE TABLE rudder.tracks_incr (LIKE rudder.tracks)")
        cut, end = con.execute(
            "SELECT percentile_disc(ARRAY[0.27, 0.3]) WITHIN GROUP (ORDER BY received_at) FROM rudder.tracks"
        ).fetchone()[0]
    return {**pg, "conn": [*pg["conn"], *INCREMENTAL], "cut": cut, "end": end}


def pg_schema_snapshot(pg: dict[str, Any], schema: str = "incr") -> dict[str, list[tuple]]:
    with pg["cluster"].admin(dbname=pg["database"]) as con:
        names = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY 1", [schema]
            ).fetchall()
        ]
        return {n: sorted(con.execute(f"SELECT * FROM {schema}.{n}").fetchall(), key=repr) for n in names}


def pg_rebuild_first_part(pg: dict[str, Any], tmp_path: Path) -> None:
    """Back to a full build of the older 90% of tracks_incr, then its newest 10% appended."""
    with pg["cluster"].admin(dbname=pg["database"]) as con:
        con.execute("TRUNCATE rudder.tracks_incr")
        con.execute("INSERT INTO rudder.tracks_incr SELECT * FROM rudder.tracks WHERE received_at <= %s", [pg["cut"]])
    run_ok([*pg["conn"], "--full-refresh"], tmp_path, pg["env"])
    with pg["cluster"].admin(dbname=pg["database"]) as con:
        con.execute(
            "INSERT INTO rudder.tracks_incr SELECT * FROM rudder.tracks WHERE received_at > %s AND received_at <= %s",
            [pg["cut"], pg["end"]],
        )


def test_sigkill_mid_incremental_run_on_postgres_then_the_next_run_equals_a_full_refresh(
    pg_incremental: dict[str, Any], tmp_path: Path
) -> None:
    pg = pg_incremental
    pg_rebuild_first_part(pg, tmp_path)
    run_ok([*pg["conn"], "--full-refresh"], tmp_path, pg["env"])
    full = stage_tables(pg_schema_snapshot(pg))

    kills = 0
    for k in (2, 9, 20):
        pg_rebuild_first_part(pg, tmp_path)
        before = pg_schema_snapshot(pg)
        assert stage_tables(before) != full
        killed = kill_at(start(pg["conn"], tmp_path, pg["env"]), k)
        wait_for_no_run(pg)
        after_kill = pg_schema_snapshot(pg)
        if after_kill != before:  # it got to COMMIT before the signal
            assert stage_tables(after_kill) == full, f"a kill at point {k} left a half-built schema"
        else:
            kills += killed
        output = run_ok(pg["conn"], tmp_path, pg["env"])
        assert "incremental" in output.lower(), output
        assert stage_tables(pg_schema_snapshot(pg)) == full, f"the run after a kill at point {k}: {output}"
    assert kills >= 2


def test_ctrl_c_reported_by_duckdb_itself_is_an_interrupted_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGINT during a DuckDB query surfaces as duckdb.InterruptException, not KeyboardInterrupt: still exit 130."""
    from harness import DuckDBHarness

    from journey_sql.core.errors import InterruptedRun
    from journey_sql.engines.duckdb import DuckDBEngine
    from journey_sql.run.pipeline import run_pipeline
    from journey_sql.settings.options import Settings

    h = DuckDBHarness()
    h.load(
        [
            {
                "id": "e1",
                "anonymous_id": "a",
                "user_id": None,
                "event": "x",
                "timestamp": datetime(2024, 1, 1),
                "received_at": datetime(2024, 1, 1),
            }
        ]
    )
    real = DuckDBEngine._run  # every statement goes through it

    def interrupted(self: DuckDBEngine, sql: str, fetch: bool) -> list[tuple[Any, ...]]:
        if "dbt_session_tracks" in sql and "CREATE" in sql:
            import threading

            threading.Timer(0.2, self.con.interrupt).start()  # what SIGINT does to a running query
            self.con.execute("SELECT COUNT(*) FROM range(20000000000) AS a WHERE a.range % 7 = 3").fetchall()
        return real(self, sql, fetch)

    monkeypatch.setattr(DuckDBEngine, "_run", interrupted)
    with pytest.raises(InterruptedRun, match="rolled back"):
        run_pipeline(h.engine, Settings.create(), full_refresh=True)
    h.close()
