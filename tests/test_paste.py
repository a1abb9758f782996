"""`render` prints a script that runs as pasted on a fresh warehouse, and builds what `apply` builds.

The script is run exactly as printed: DuckDB's Python API executes the whole
text at once; PostgreSQL gets it through psql -f, as a user would run a file.
The tables are compared with the reference, and with `apply`'s tables in
another schema of the same database.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from compare import assert_matches_reference
from harness import DuckDBHarness
from reference import compute
from test_reference_duckdb import _row

from journey_sql.compile.script import render_script
from journey_sql.settings.options import Settings

ROWS = [
    _row("1", "2026-01-01 10:00:00", anon="dev"),
    _row("2", "2026-01-01 10:05:00", anon="dev", user="alice", event="Signed In"),
    _row("3", "2026-01-01 11:00:00", anon="dev", event="Product Viewed"),
    _row("4", "2026-01-01 11:00:00", anon="phone", user="alice", event="Order Completed"),
    _row("5", "2026-01-01 12:00:00", anon=None, user=None),  # no identity: left out
    _row("6", "2026-01-01 09:00:00", anon="tablet"),
]
PASTED = Settings.create(schema="pasted", session_timeout=20, depth=3)
APPLIED = Settings.create(schema="applied", session_timeout=20, depth=3)


def test_duckdb_script_runs_as_pasted_on_a_fresh_file(tmp_path: Path) -> None:
    import duckdb

    from journey_sql.engines.connection import connect

    path = tmp_path / "fresh.duckdb"
    harness = DuckDBHarness.__new__(DuckDBHarness)  # the harness's loader, on a file instead of memory
    harness.engine = connect(f"duckdb:///{path}", create=True)
    try:
        harness.load(ROWS)
        harness.engine.con.execute(render_script(PASTED, "duckdb"))  # the whole script, as printed
        harness.run(APPLIED)
        pasted, applied = harness.fetch(PASTED), harness.fetch(APPLIED)
    finally:
        harness.close()
    assert_matches_reference(pasted, compute(ROWS, 20, 3), "pasted script")
    assert {k: sorted(v, key=repr) for k, v in pasted.items()} == {k: sorted(v, key=repr) for k, v in applied.items()}
    # all or nothing: a script that fails part way leaves no schema and no table behind
    script = render_script(Settings.create(schema="half"), "duckdb")
    broken = script.replace("COMMIT;", "SELECT no_such_column FROM rudder.tracks;\nCOMMIT;")
    con = duckdb.connect(str(path))
    try:
        with pytest.raises(duckdb.Error):
            con.execute(broken)
        con.execute("ROLLBACK")  # what a console does when a script fails inside a transaction
        assert con.execute(
            "SELECT count(*) FROM information_schema.schemata WHERE schema_name = 'half'"
        ).fetchone() == (0,)
    finally:
        con.close()


def test_postgres_script_runs_as_pasted_through_psql(tmp_path: Path) -> None:
    from engines.pg import PostgresHarness, postgres_engine, shared_cluster

    psql = shutil.which("psql")
    if psql is None:
        pytest.skip("psql is not installed (apt-get install postgresql-client)")
    cluster = shared_cluster()
    database = cluster.database("jsql_paste", fresh=True)
    harness = PostgresHarness(postgres_engine(database, cluster))
    try:
        harness.load(ROWS)
        script = tmp_path / "journey.sql"
        script.write_text(render_script(PASTED, "postgres"))
        env = {**os.environ, "PGPASSWORD": cluster.password, "PGOPTIONS": "-c TimeZone=UTC"}
        done = subprocess.run(
            [psql, "-X", "-v", "ON_ERROR_STOP=1", "-h", cluster.host, "-p", str(cluster.port), "-U", cluster.user,
             "-d", database, "-f", str(script)],
            check=False, capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "BEGIN" in done.stdout and "COMMIT" in done.stdout
        harness.run(APPLIED)
        pasted, applied = harness.fetch(PASTED), harness.fetch(APPLIED)
    finally:
        harness.close()
    assert_matches_reference(pasted, compute(ROWS, 20, 3), "pasted script")
    assert {k: sorted(v, key=repr) for k, v in pasted.items()} == {k: sorted(v, key=repr) for k, v in applied.items()}
