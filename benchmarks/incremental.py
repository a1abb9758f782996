"""Benchmark incremental builds against a full refresh of the same data, and check they are equal.

    python benchmarks/incremental.py --events 10000000 --postgres-events 1000000

For each size: the sample tracks are generated once (journey_sql.demo.data) and
split by received_at into a history and a newest batch (the last 1% of rows, about
7 hours of the 30-day sample), to which a few hundred hard cases are added: late
events with old timestamps, stragglers (rows received before the history's newest
received_at but loaded only now), redeliveries of processed ids (some received
earlier than the kept copy), and identifications of anonymous ids seen in the
history. The history is built in full; then the batch is appended and, on two
copies of that database, one child process runs `apply` (incremental) and another
`apply --full-refresh`. The two results are compared table by table (every row,
as a multiset), and the report gives the incremental run's time as a share of the
full refresh's, the source rows it read, and its per-step seconds.

On PostgreSQL (a throwaway cluster, as the tests start) the same is measured at a
smaller size, plus the source table's seq_scan counter.

This machine's speed drifts by tens of percent within an hour, so each pair is
run --runs times (3 by default), the full refresh and the incremental run in
alternating order, and the report gives medians (min-max) and the ratio of the
medians; per-step seconds are the median incremental run's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TABLES = (
    "jsql_events",
    "dbt_aliases_mapping",
    "dbt_mapped_tracks",
    "dbt_session_tracks",
    "dbt_track_facts",
    "dbt_tracks_flow",
    "dbt_session_track_facts",
    "dbt_session_duration",
    "dbt_user_session_facts",
)
HARD_CASES = 300  # of each kind


def split_sql(batch_share: float) -> str:
    """Split rudder.all_tracks into rudder.tracks (history) and rudder.batch (to append), with hard cases."""
    return f"""
CREATE OR REPLACE TABLE rudder.all_tracks AS
SELECT id, anonymous_id, user_id, event, timestamp, received_at, context_library_name FROM rudder.all_tracks;
CREATE TABLE rudder.bounds AS
SELECT quantile_disc(received_at, {1 - batch_share}) AS cut, MAX(received_at) AS newest FROM rudder.all_tracks;
CREATE TABLE rudder.stragglers AS  -- received in the last 12 hours of the history, but loaded only with the batch
SELECT t.* FROM rudder.all_tracks t, rudder.bounds b
WHERE t.received_at < b.cut AND t.received_at >= b.cut - INTERVAL 12 HOUR
ORDER BY hash(t.id, 'straggler') LIMIT {HARD_CASES};
CREATE TABLE rudder.tracks AS  -- stored in the order received, as RudderStack's loads append it
SELECT t.* FROM rudder.all_tracks t, rudder.bounds b
WHERE t.received_at < b.cut AND t.id NOT IN (SELECT id FROM rudder.stragglers)
ORDER BY t.received_at;
CREATE TABLE rudder.batch AS
SELECT t.* FROM rudder.all_tracks t, rudder.bounds b WHERE t.received_at >= b.cut
UNION ALL SELECT * FROM rudder.stragglers
-- late events: new ids at the timestamps of old events of known visitors
UNION ALL SELECT * FROM (
  SELECT t.id || '-late', t.anonymous_id, t.user_id, t.event, t.timestamp - INTERVAL 1 SECOND,
    b.cut + INTERVAL (hash(t.id, 'late') % 3600) SECOND, t.context_library_name
  FROM rudder.tracks t, rudder.bounds b ORDER BY hash(t.id, 'pick-late') LIMIT {HARD_CASES}
)
-- redeliveries of processed ids; those received within the lookback arrive earlier than the kept copy
UNION ALL SELECT * FROM (
  SELECT t.id, t.anonymous_id, t.user_id, t.event, t.timestamp,
    CASE WHEN t.received_at >= b.cut - INTERVAL 20 HOUR THEN t.received_at - INTERVAL 1 MILLISECOND
         ELSE b.cut + INTERVAL 60 SECOND END,
    t.context_library_name
  FROM rudder.tracks t, rudder.bounds b ORDER BY hash(t.id, 'pick-again') LIMIT {HARD_CASES}
)
-- identifications: an anonymous id of the history logs in as a new user
UNION ALL SELECT * FROM (
  SELECT 'late-identify-' || a.anonymous_id, a.anonymous_id, 'late-user-' || a.anonymous_id, 'Signed In',
    b.cut + INTERVAL 120 SECOND, b.cut + INTERVAL 121 SECOND, 'benchmark'
  FROM (SELECT DISTINCT anonymous_id FROM rudder.tracks WHERE user_id IS NULL AND anonymous_id IS NOT NULL) a,
    rudder.bounds b
  ORDER BY hash(a.anonymous_id, 'pick-identify') LIMIT {HARD_CASES}
);
DROP TABLE rudder.all_tracks; DROP TABLE rudder.stragglers; DROP TABLE rudder.bounds;
"""


def _apply(database: str, extra: list[str]) -> dict[str, Any]:
    """One `journey-sql apply` in a child process: wall seconds, the report, per-step seconds."""
    code = (
        "import json, sys, time\n"
        "from journey_sql.engines import connect\n"
        "from journey_sql.executor import run_pipeline\n"
        "from journey_sql.settings import Settings\n"
        "steps = []\n"
        "started = time.perf_counter()  # opening the database and closing it are part of the run\n"
        "engine = connect(sys.argv[1])\n"
        "report = run_pipeline(engine, Settings.create(), echo=steps.append, full_refresh=sys.argv[2] == 'full')\n"
        "engine.close()\n"
        "wall = time.perf_counter() - started\n"
        "print(json.dumps({'wall': wall, 'mode': report.mode, 'reason': report.reason, 'steps': steps,\n"
        "  'window_rows': report.window_rows, 'new_rows': report.new_rows, 'visitors': report.visitors_rebuilt,\n"
        "  'missed': report.missed_rows, 'source_rows': report.source.rows}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, database, *extra], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _fingerprints(con: Any, schema: str = "analytics") -> dict[str, Any]:
    return {t: con.execute(f"SELECT COUNT(*) FROM {schema}.{t}").fetchone()[0] for t in TABLES}


def _differences(a: str, b: str) -> dict[str, int]:
    """Rows in one database's table and not the other's (as multisets), per table."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"ATTACH '{a}' AS a (READ_ONLY)")
    con.execute(f"ATTACH '{b}' AS b (READ_ONLY)")
    diff = {}
    for t in TABLES:
        n = con.execute(
            f"SELECT (SELECT COUNT(*) FROM (SELECT * FROM a.analytics.{t} EXCEPT ALL SELECT * FROM b.analytics.{t})) "
            f"+ (SELECT COUNT(*) FROM (SELECT * FROM b.analytics.{t} EXCEPT ALL SELECT * FROM a.analytics.{t}))"
        ).fetchone()[0]
        diff[t] = int(n)
    con.close()
    return diff


def _pairs(runs: int, run: Any) -> dict[str, list[dict[str, Any]]]:
    """`run(kind)` for kind "full" and "auto", `runs` times each, alternating which goes first."""
    results: dict[str, list[dict[str, Any]]] = {"full": [], "auto": []}
    for k in range(runs):
        for kind in ("full", "auto") if k % 2 == 0 else ("auto", "full"):
            results[kind].append(run(kind))
    return results


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median wall time (the lower middle one of an even number), with every run's times."""
    ordered = sorted(runs, key=lambda r: r["wall"])
    middle = dict(ordered[(len(ordered) - 1) // 2])
    middle["walls"] = [r["wall"] for r in runs]
    middle["wall"] = statistics.median(middle["walls"])
    return middle


def duckdb_size(events: int, work: Path, cold_too: bool = False, runs: int = 3) -> dict[str, Any]:
    import duckdb

    from journey_sql.demo.data import generate

    base = work / f"inc-{events}.duckdb"
    for p in work.glob(f"inc-{events}*"):
        p.unlink() if p.is_file() else shutil.rmtree(p)
    con = duckdb.connect(str(base))
    generate(con, events, seed=42, table="all_tracks")
    con.execute(split_sql(0.01))
    history_rows = con.execute("SELECT COUNT(*) FROM rudder.tracks").fetchone()[0]
    batch_rows = con.execute("SELECT COUNT(*) FROM rudder.batch").fetchone()[0]
    con.close()
    url = f"duckdb:///{base}"
    first = _apply(url, ["auto"])
    assert first["mode"] == "full", first
    con = duckdb.connect(str(base))
    con.execute("INSERT INTO rudder.tracks SELECT * FROM rudder.batch; DROP TABLE rudder.batch; CHECKPOINT")
    con.close()
    inc_db, full_db = work / f"inc-{events}-incremental.duckdb", work / f"inc-{events}-full.duckdb"
    copies = {"full": full_db, "auto": inc_db}
    cold: dict[str, Any] | None = None
    if cold_too:
        # both runs with nothing in the page cache, as a scheduled run finds its database
        cold_runs = _pairs(runs, lambda kind: _run_on_copy(base, copies[kind], kind, "cold"))
        cold = {kind: _median_run(r) for kind, r in cold_runs.items()}
    # both runs with their database in the page cache: otherwise how much of its copy the cache still held
    # depended on the order of the runs (the second one read more of its file from disk)
    warm = _pairs(runs, lambda kind: _run_on_copy(base, copies[kind], kind, "warm"))
    full, inc = _median_run(warm["full"]), _median_run(warm["auto"])
    assert all(r["mode"] == "incremental" for r in warm["auto"]), warm["auto"]
    # the last copies are compared: every incremental run starts from the same bytes and is deterministic
    diff = _differences(str(inc_db), str(full_db))
    con = duckdb.connect(str(full_db), read_only=True)
    counts = _fingerprints(con)
    con.close()
    for p in work.glob(f"inc-{events}*"):
        p.unlink() if p.is_file() else shutil.rmtree(p)
    return {
        "events": events,
        "history_rows": history_rows,
        "batch_rows": batch_rows,
        "history_build": first["wall"],
        "full": full,
        "incremental": inc,
        "cold": cold,
        "differences": diff,
        "rows": counts,
    }


def _run_on_copy(base: Path, db: Path, kind: str, cache: str) -> dict[str, Any]:
    """`apply` (kind "full" or "auto") on a fresh copy of `base`, its file in the page cache or not at all."""
    shutil.copy(base, db)
    os.sync()  # otherwise the run's first commit pays for writing the copy out
    if cache == "cold":
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    else:
        with open(db, "rb") as f:
            while f.read(1 << 24):
                pass
    return _apply(f"duckdb:///{db}", [kind])


def postgres_size(events: int, work: Path, runs: int = 3) -> dict[str, Any]:
    """The same on a throwaway PostgreSQL cluster (tests/engines/pg.py), plus the source's seq_scan counter."""
    import duckdb

    sys.path.insert(0, str(ROOT / "tests"))
    from engines.pg import shared_cluster

    from journey_sql.demo.data import generate
    from journey_sql.engines.connection import connect

    cluster = shared_cluster()
    os.environ["PGPASSWORD"] = cluster.password
    con = duckdb.connect()
    generate(con, events, seed=42, table="all_tracks")
    con.execute(split_sql(0.01))
    csv_history, csv_batch = work / "pg-history.csv", work / "pg-batch.csv"
    con.execute(f"COPY rudder.tracks TO '{csv_history}' (HEADER false)")
    con.execute(f"COPY rudder.batch TO '{csv_batch}' (HEADER false)")
    batch_rows = con.execute("SELECT COUNT(*) FROM rudder.batch").fetchone()[0]
    con.close()
    results: dict[str, Any] = {"events": events, "batch_rows": batch_rows}
    base = cluster.database("bench_base", fresh=True)
    engine = connect(cluster.url(base))
    engine.execute("CREATE SCHEMA rudder")
    engine.execute(
        "CREATE TABLE rudder.tracks (id TEXT, anonymous_id TEXT, user_id TEXT, event TEXT, "
        "timestamp TIMESTAMP, received_at TIMESTAMP, context_library_name TEXT)"
    )
    _copy(engine, csv_history)
    engine.close()
    _apply(cluster.url(base), ["auto"])  # the history, built in full
    engine = connect(cluster.url(base))
    _copy(engine, csv_batch)
    engine.execute("ANALYZE rudder.tracks")
    engine.close()
    admin = cluster.admin()
    admin.autocommit = True

    def run(variant: str) -> dict[str, Any]:
        # every run on its own copy of the same database (a template copy: files, statistics and all)
        admin.execute("DROP DATABASE IF EXISTS bench_run")
        admin.execute(f"CREATE DATABASE bench_run TEMPLATE {base}")
        url = cluster.url("bench_run")
        engine = connect(url)
        before = _seq_scans(engine)
        engine.close()
        result = _apply(url, [variant])
        engine = connect(url)
        result["seq_scans"] = _seq_scans(engine) - before
        result["rows"] = {t: int(engine.query(f"SELECT COUNT(*) FROM analytics.{t}")[0][0]) for t in TABLES}
        result["workers_planned"] = _events_step_workers(engine)
        engine.close()
        return result

    try:
        pairs = _pairs(runs, run)
        admin.execute("DROP DATABASE IF EXISTS bench_run")
    finally:
        admin.close()
    results["full"], results["incremental"] = _median_run(pairs["full"]), _median_run(pairs["auto"])
    csv_history.unlink()
    csv_batch.unlink()
    return results


def _events_step_workers(engine: Any) -> int:
    """Parallel workers PostgreSQL plans for the events step's scan of the source. Its seq_scan counter
    counts a parallel scan once per process taking part: the leader and each worker."""
    from journey_sql.compile.plan import compile_plan
    from journey_sql.settings.options import Settings

    plan = compile_plan(Settings.create(), engine.dialect)
    lines = [str(r[0]) for r in engine.query("EXPLAIN " + engine.dialect.generate(plan.step("jsql_events").select))]
    return max((int(m.group(1)) for line in lines if (m := re.search(r"Workers Planned: (\d+)", line))), default=0)


def _copy(engine: Any, path: Path) -> None:
    with engine.con.cursor() as cur, cur.copy("COPY rudder.tracks FROM STDIN (FORMAT csv)") as copy:
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                copy.write(chunk)
    engine.con.commit()


def _seq_scans(engine: Any) -> int:
    """The source's seq_scan counter once it has settled (other backends flush their counts lazily)."""

    def read() -> int:
        engine.query("SELECT pg_stat_force_next_flush()")
        engine.query("SELECT pg_stat_clear_snapshot()")
        rows = engine.query(
            "SELECT seq_scan FROM pg_stat_user_tables WHERE schemaname = 'rudder' AND relname = 'tracks'"
        )
        return int(rows[0][0])

    value = read()
    for _ in range(20):
        time.sleep(0.5)
        again = read()
        if again == value:
            return value
        value = again
    return value


def report(duck: list[dict[str, Any]], pg: dict[str, Any] | None, runs: int = 1) -> str:
    lines = [
        "# Incremental builds: benchmark",
        "",
        f"Generated by `python benchmarks/incremental.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        f"- machine: {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}; DuckDB with journey-sql's defaults (2 threads unless told)",
        "- the history is the sample data (30 days) without its newest 1% of rows by received_at, stored in the "
        "order received (as RudderStack's loads append it); the batch "
        f"appended is those rows plus {HARD_CASES} each of stragglers, late events with old timestamps, "
        "redeliveries (some received earlier than the kept copy) and identifications of known anonymous ids",
        "- both runs start from copies of the same database (history built, batch appended), each in its own "
        "process, timed from opening the database to closing it; default --lookback (24h); warm: the copy read "
        "through just before the run, so it starts in the page cache; cold (with --cold): the page cache "
        "dropped just before, as a scheduled run may find its database",
        "- equal: every table of the incremental result and of the full refresh compared as multisets "
        "(EXCEPT ALL both ways)",
        f"- wall: the median of {runs} runs of each (min-max), the full refresh and the incremental run in "
        "alternating order; the share is the ratio of the medians; steps: the median run's",
        "",
    ]

    def spread(run: dict[str, Any]) -> str:
        walls = run["walls"]
        return f"{run['wall']:.2f} ({min(walls):.2f}-{max(walls):.2f})" if len(walls) > 1 else f"{run['wall']:.2f}"

    for r in duck:
        inc, full = r["incremental"], r["full"]
        equal = all(v == 0 for v in r["differences"].values())
        lines += [
            f"## DuckDB, {r['events']:,} events",
            "",
            "| run | wall s | share of full refresh | source rows read |",
            "|---|---:|---:|---:|",
            f"| full refresh, warm | {spread(full)} | 100% | {full['source_rows']:,} |",
            f"| incremental, warm | {spread(inc)} | {100 * inc['wall'] / full['wall']:.1f}% | "
            f"{inc['window_rows']:,} ({100 * inc['window_rows'] / inc['source_rows']:.1f}% of "
            f"{inc['source_rows']:,}) |",
            *(
                [
                    f"| full refresh, cold | {spread(r['cold']['full'])} | 100% | |",
                    f"| incremental, cold | {spread(r['cold']['auto'])} | "
                    f"{100 * r['cold']['auto']['wall'] / r['cold']['full']['wall']:.1f}% | |",
                ]
                if r["cold"]
                else []
            ),
            "",
            f"- batch appended: {r['batch_rows']:,} rows; new rows found: {inc['new_rows']:,}; "
            f"visitors rebuilt: {inc['visitors']:,} of {r['rows']['dbt_user_session_facts']:,}; "
            f"rows missed: {inc['missed']}",
            f"- tables equal to the full refresh: **{'yes' if equal else 'NO'}** "
            f"({', '.join(f'{t} {n}' for t, n in r['differences'].items())} rows differ)",
            f"- the history's own full build took {r['history_build']:.2f} s",
            f"- incremental: {inc['reason']}",
            "",
            "Incremental steps, the median warm run (rows, seconds):",
            "",
            *[f"    {s}" for s in inc["steps"][1:]],
            "",
        ]
    if pg:
        inc, full = pg["incremental"], pg["full"]
        lines += [
            f"## PostgreSQL 15, {pg['events']:,} events (throwaway cluster on this machine)",
            "",
            "| run | wall s | share of full refresh | source rows read | seq scans of the source |",
            "|---|---:|---:|---:|---:|",
            f"| full refresh | {spread(full)} | 100% | {full['source_rows']:,} | {full['seq_scans']} |",
            f"| incremental | {spread(inc)} | {100 * inc['wall'] / full['wall']:.1f}% | "
            f"{inc['window_rows']:,} | {inc['seq_scans']} |",
            "",
            f"- tables have the same row counts: **{'yes' if inc['rows'] == full['rows'] else 'NO'}** "
            "(row-for-row equality on PostgreSQL is what tests/test_incremental.py checks)",
            f"- new rows: {inc['new_rows']:,}; visitors rebuilt: {inc['visitors']:,}",
            f"- seq scans: PostgreSQL counts a parallel scan once per process taking part; the events step's "
            f"plan has {full['workers_planned']} parallel workers on this data, so one scan counts "
            f"{1 + full['workers_planned']} (tests/test_engine_postgres.py sees +1 on data too small for workers)",
            "",
            "Full refresh steps, the median run:",
            "",
            *[f"    {s}" for s in full["steps"][1:]],
            "",
            "Incremental steps, the median run:",
            "",
            *[f"    {s}" for s in inc["steps"][1:]],
            "",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, action="append", help="DuckDB sizes (repeatable) [1000000]")
    parser.add_argument("--postgres-events", type=int, default=0, help="PostgreSQL size (0: skip) [0]")
    parser.add_argument(
        "--cold", action="store_true", help="also time both runs after dropping the page cache (Linux, root)"
    )
    parser.add_argument("--runs", type=int, default=3, help="runs of each, alternating [3]")
    parser.add_argument("--work", type=Path, default=HERE / "work")
    parser.add_argument("--results", type=Path, default=HERE / "incremental.md")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    if args.cold and not os.access("/proc/sys/vm/drop_caches", os.W_OK):
        parser.error("--cold drops the page cache through /proc/sys/vm/drop_caches, which this user cannot write")
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    duck = [duckdb_size(n, args.work, args.cold, args.runs) for n in (args.events or [1_000_000]) if n]
    pg = None
    if args.postgres_events:
        with tempfile.TemporaryDirectory() as tmp:
            pg = postgres_size(args.postgres_events, Path(tmp), args.runs)
    text = report(duck, pg, args.runs)
    args.results.write_text(text + "\n")
    print(text)
    failed = any(any(r["differences"].values()) for r in duck)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
