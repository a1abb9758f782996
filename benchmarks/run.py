"""Benchmark journey-sql against the seed project's SQL and a one-sort floor, on embedded DuckDB.

    python benchmarks/run.py --events 100000 --events 1000000 --events 10000000

For each size the sample tracks are generated once (journey_sql.demo.data, one
DuckDB statement), then every run of every variant starts from a fresh copy of
that database file and runs in a fresh child process of this script:

  journey-sql  `journey-sql apply`, invoked in-process through the click command
  seed         the seed project's eight models restated in DuckDB SQL (no dedup, no tie-breaks)
  floor        one CREATE TABLE AS of the tracks with a single LAG(): one sort and one write

A child per run is what makes peak RSS meaningful: a process's peak resident set
only ever grows, so one process running all variants would report the largest
variant's peak for every later one. Each child reads its own peak from the OS
(getrusage ru_maxrss) and reports it with its timings as one JSON line.
All variants open DuckDB through journey-sql's engine, so they share one
configuration: the same threads, memory limit, temp directory and settings.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
VARIANTS = ("journey-sql", "seed", "floor")
# what `journey-sql apply` uses on a DuckDB file unless told otherwise
from journey_sql.engines.duckdb import DEFAULT_FILE_MEMORY_LIMIT as DEFAULT_MEMORY_LIMIT  # noqa: E402

# The seed project's models (rudderlabs/dbt-sessionization, models/rudder/), restated
# for DuckDB, in the order its README runs them. The five documented ones as the
# issue specifies: UNION alias mapping with FIRST_VALUE(... IGNORE NULLS) over the
# alias, whole-minute idle time from LAG, sessions numbered with ROW_NUMBER and LEAD,
# track facts by a range join onto the sessions, flow with FIRST_VALUE/NTH_VALUE.
# Then its three extra models, which `journey-sql apply` builds too: session facts
# (a LEFT JOIN of the sessions to the track facts, COUNT(DISTINCT event_id) and two
# hard-coded event counts), user session facts (a table) and session duration (a
# view: its config says materialized='view'), as the seed writes them.
SEED_SQL: tuple[tuple[str, str], ...] = (
    (
        "dbt_aliases_mapping",
        """
CREATE TABLE seed.dbt_aliases_mapping AS
WITH all_mappings AS (
  SELECT anonymous_id, user_id, timestamp FROM rudder.tracks
  UNION
  SELECT user_id, NULL, timestamp FROM rudder.tracks
)
SELECT DISTINCT
  anonymous_id AS alias,
  COALESCE(FIRST_VALUE(user_id IGNORE NULLS) OVER (
    PARTITION BY anonymous_id ORDER BY timestamp DESC
    ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING), anonymous_id) AS dbt_visitor_id
FROM all_mappings
WHERE anonymous_id IS NOT NULL""",
    ),
    (
        "dbt_mapped_tracks",
        """
CREATE TABLE seed.dbt_mapped_tracks AS
SELECT t.id AS event_id, t.anonymous_id, a.dbt_visitor_id, t.timestamp, t.event,
  date_diff('minute', LAG(t.timestamp) OVER (PARTITION BY a.dbt_visitor_id ORDER BY t.timestamp), t.timestamp)
    AS idle_time_minutes
FROM rudder.tracks AS t
INNER JOIN seed.dbt_aliases_mapping AS a ON a.alias = COALESCE(t.user_id, t.anonymous_id)""",
    ),
    (
        "dbt_session_tracks",
        """
CREATE TABLE seed.dbt_session_tracks AS
SELECT
  CAST(ROW_NUMBER() OVER w AS VARCHAR) || ' - ' || dbt_visitor_id AS session_id,
  dbt_visitor_id,
  timestamp AS session_start_at,
  ROW_NUMBER() OVER w AS session_sequence_number,
  LEAD(timestamp) OVER w AS next_session_start_at
FROM seed.dbt_mapped_tracks
WHERE idle_time_minutes > 30 OR idle_time_minutes IS NULL
WINDOW w AS (PARTITION BY dbt_visitor_id ORDER BY timestamp)""",
    ),
    (
        "dbt_track_facts",
        """
CREATE TABLE seed.dbt_track_facts AS
SELECT t.anonymous_id, t.timestamp, t.event_id, t.event, s.session_id, t.dbt_visitor_id,
  ROW_NUMBER() OVER (PARTITION BY s.session_id ORDER BY t.timestamp) AS track_sequence_number
FROM seed.dbt_mapped_tracks AS t
INNER JOIN seed.dbt_session_tracks AS s
  ON t.dbt_visitor_id = s.dbt_visitor_id
  AND t.timestamp >= s.session_start_at
  AND (t.timestamp < s.next_session_start_at OR s.next_session_start_at IS NULL)""",
    ),
    (
        "dbt_session_track_facts",
        """
CREATE TABLE seed.dbt_session_track_facts AS
SELECT s.session_id, CAST(MAX(map.timestamp) AS TIMESTAMP) AS ended_at, COUNT(DISTINCT map.event_id) AS num_pvs,
  COUNT(CASE WHEN map.event = 'viewed_product' THEN map.event_id END) AS cnt_viewed_product,
  COUNT(CASE WHEN map.event = 'signup' THEN map.event_id END) AS cnt_signup
FROM seed.dbt_session_tracks AS s
LEFT JOIN seed.dbt_track_facts AS map ON map.session_id = s.session_id
GROUP BY 1""",
    ),
    (
        "dbt_user_session_facts",
        """
CREATE TABLE seed.dbt_user_session_facts AS
SELECT dbt_visitor_id, CAST(MIN(s.session_start_at) AS TIMESTAMP) AS first_date,
  CAST(MAX(s.session_start_at) AS TIMESTAMP) AS last_date, COUNT(*) AS number_of_sessions
FROM seed.dbt_session_tracks AS s
LEFT JOIN seed.dbt_session_track_facts AS sf ON s.session_id = sf.session_id
GROUP BY 1""",
    ),
    (
        "dbt_session_duration",
        """
CREATE VIEW seed.dbt_session_duration AS
SELECT s1.dbt_visitor_id, s1.session_id, date_diff('minute', s1.session_start_at, s2.ended_at) AS session_duration
FROM seed.dbt_session_tracks AS s1
LEFT JOIN seed.dbt_session_track_facts AS s2 ON s1.session_id = s2.session_id""",
    ),
    (
        "dbt_tracks_flow",
        """
CREATE TABLE seed.dbt_tracks_flow AS
SELECT event_id, session_id, track_sequence_number, event, dbt_visitor_id, timestamp,
  FIRST_VALUE(event) OVER w AS event_1,
  NTH_VALUE(event, 2) OVER w AS event_2,
  NTH_VALUE(event, 3) OVER w AS event_3,
  NTH_VALUE(event, 4) OVER w AS event_4,
  NTH_VALUE(event, 5) OVER w AS event_5
FROM seed.dbt_track_facts
WINDOW w AS (PARTITION BY session_id ORDER BY track_sequence_number
  ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)""",
    ),
)

# The floor writes the six columns any sessionization reads, plus the LAG.
FLOOR_SQL = """
CREATE TABLE floor.tracks_with_previous AS
SELECT t.id, t.anonymous_id, t.user_id, t.event, t.timestamp, t.received_at,
  LAG(t.timestamp) OVER (PARTITION BY t.anonymous_id ORDER BY t.timestamp, t.id) AS previous_timestamp
FROM rudder.tracks AS t"""

JOURNEY_TABLES = (
    "dbt_aliases_mapping",
    "dbt_mapped_tracks",
    "dbt_session_tracks",
    "dbt_track_facts",
    "dbt_tracks_flow",
    # the seed's extra models (issue 10), which the seed variant builds too
    "dbt_session_track_facts",
    "dbt_session_duration",
    "dbt_user_session_facts",
)
SEED_TABLES = JOURNEY_TABLES
EXTRA_MODELS = JOURNEY_TABLES[5:]
# The seed's session facts count these two events (hard-coded in its SQL); journey-sql
# is asked for the same columns, so both variants build the same relations.
SEED_COUNT_EVENTS = ("viewed_product", "signup")
STAGE_LINE = re.compile(r"^((?:dbt|jsql)_\w+)\s+([\d,]+) rows\s+([\d.]+) s$")


# -- child: one variant, one run ------------------------------------------------


def _peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux reports KiB


def _fingerprint(con: Any, table: str) -> dict[str, Any]:
    """Row count and an order-independent hash of every row: equal tables, equal fingerprints."""
    rows, digest = con.execute(f"SELECT COUNT(*), SUM(hash(t)) FROM {table} AS t").fetchone()
    return {"rows": int(rows), "hash": str(digest)}


def run_variant(variant: str, database: str, threads: int, memory_limit: str) -> dict[str, Any]:
    """Run one variant on `database` and return its measurements."""
    import duckdb  # noqa: F401  imported before timing, like an already-running process

    from journey_sql.cli.app import cli
    from journey_sql.engines.connection import connect

    result: dict[str, Any] = {"variant": variant, "rss_before_bytes": _peak_rss_bytes()}
    url = f"duckdb:///{database}"
    stages: dict[str, float] = {}
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if variant == "journey-sql":
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            cli.main(
                [
                    "apply",
                    *("--connection", url, "--threads", str(threads), "--memory-limit", memory_limit),
                    *(arg for event in SEED_COUNT_EVENTS for arg in ("--count-event", event)),
                ],
                prog_name="journey-sql",
                standalone_mode=False,
            )
        wall = time.perf_counter() - wall0
        for line in err.getvalue().splitlines():
            m = STAGE_LINE.match(line.strip())
            if m:
                stages[m.group(1)] = float(m.group(3))
        result["cli_output"] = err.getvalue()
        schema, tables = "analytics", JOURNEY_TABLES
    else:
        engine = connect(url, threads=threads, memory_limit=memory_limit)
        try:
            if variant == "seed":
                engine.execute("CREATE SCHEMA seed")
                for name, sql in SEED_SQL:
                    started = time.perf_counter()
                    engine.execute(sql)
                    stages[name] = time.perf_counter() - started
                schema, tables = "seed", SEED_TABLES
            elif variant == "floor":
                engine.execute("CREATE SCHEMA floor")
                engine.execute(FLOOR_SQL)
                schema, tables = "floor", ("tracks_with_previous",)
            else:
                raise SystemExit(f"unknown variant {variant!r}")
        finally:
            engine.close()
        wall = time.perf_counter() - wall0
    result.update(wall_seconds=wall, cpu_seconds=time.process_time() - cpu0, peak_rss_bytes=_peak_rss_bytes())
    result["stages"] = stages
    # Checked after the clock stops: what the run built.
    con = duckdb.connect(database, read_only=True)
    try:
        result["tables"] = {t: _fingerprint(con, f"{schema}.{t}") for t in tables}
        result["threads"] = int(con.execute("SELECT current_setting('threads')").fetchone()[0])
    finally:
        con.close()
    return result


# -- parent: data, runs, report ------------------------------------------------


@dataclass
class SizeResult:
    events: int
    source_rows: int
    generate_seconds: float
    expected: dict[str, int]
    runs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def median(self, variant: str, key: str) -> float:
        return statistics.median(r[key] for r in self.runs[variant])

    def stage_medians(self, variant: str) -> dict[str, float]:
        names = self.runs[variant][0]["stages"].keys()
        return {n: statistics.median(r["stages"][n] for r in self.runs[variant]) for n in names}


def generate_base(
    path: Path, events: int, seed: int, threads: int, memory_limit: str
) -> tuple[float, int, dict[str, int]]:
    """Sample tracks in a fresh file; returns generation seconds, source rows and independently counted expectations."""
    from journey_sql.demo.data import generate
    from journey_sql.engines.connection import connect

    _remove_database(path)
    engine = connect(f"duckdb:///{path}", threads=threads, memory_limit=memory_limit, create=True)
    try:
        started = time.perf_counter()
        generate(engine.con, events, seed)  # type: ignore[attr-defined]
        engine.execute("CHECKPOINT")
        seconds = time.perf_counter() - started
        (rows,) = engine.query("SELECT COUNT(*) FROM rudder.tracks")[0]
        # In generated data a redelivery differs from its first copy only in
        # received_at, so the events journey-sql places are simply these:
        (placeable,) = engine.query(
            "SELECT COUNT(DISTINCT id) FROM rudder.tracks "
            "WHERE id IS NOT NULL AND timestamp IS NOT NULL AND COALESCE(user_id, anonymous_id) IS NOT NULL"
        )[0]
        # the seed neither deduplicates nor drops anything but rows without an identity
        (seed_mapped,) = engine.query(
            "SELECT COUNT(*) FROM rudder.tracks WHERE COALESCE(user_id, anonymous_id) IS NOT NULL"
        )[0]
    finally:
        engine.close()
    return seconds, int(rows), {"placeable_events": int(placeable), "seed_mapped_rows": int(seed_mapped)}


def _remove_database(path: Path) -> None:
    for extra in ("", ".wal", ".tmp"):
        p = Path(str(path) + extra)
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        elif p.exists():
            p.unlink()


def run_child(variant: str, base: Path, work: Path, threads: int, memory_limit: str) -> dict[str, Any]:
    copy = work / f"run-{variant}.duckdb"
    _remove_database(copy)
    shutil.copyfile(base, copy)  # every run starts from the same bytes
    # ... on disk: otherwise the run's first commit pays for flushing the copy (fsync)
    os.sync()
    try:
        proc = subprocess.run(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--worker",
                variant,
                "--database",
                str(copy),
                "--threads",
                str(threads),
                "--memory-limit",
                memory_limit,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise SystemExit(f"{variant} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        _remove_database(copy)


def render_cold_start(repeats: int) -> list[float]:
    """Wall seconds of `journey-sql render --dialect snowflake` in a new interpreter, repeated."""
    script = shutil.which("journey-sql", path=str(Path(sys.executable).parent))
    command = [script] if script else [sys.executable, "-m", "journey_sql"]
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([*command, "render", "--dialect", "snowflake"], capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return times


def benchmark(
    sizes: list[int],
    runs: int,
    threads: int,
    memory_limit: str,
    seed: int,
    work: Path,
    variants: tuple[str, ...] = VARIANTS,
    echo: Any = print,
) -> list[SizeResult]:
    work.mkdir(parents=True, exist_ok=True)
    results = []
    for events in sizes:
        base = work / f"tracks-{events}.duckdb"
        seconds, rows, expected = generate_base(base, events, seed, threads, memory_limit)
        echo(f"{events:,} events: generated {rows:,} source rows in {seconds:.1f} s")
        size = SizeResult(events, rows, seconds, expected, {v: [] for v in variants})
        try:
            for r in range(runs):
                # Interleaved, so a noisy minute on a shared machine hits every variant alike.
                for variant in variants:
                    out = run_child(variant, base, work, threads, memory_limit)
                    size.runs[variant].append(out)
                    echo(
                        f"  run {r + 1}/{runs} {variant:<12} {out['wall_seconds']:7.2f} s wall "
                        f"{out['cpu_seconds']:7.2f} s cpu {out['peak_rss_bytes'] / 2**20:7.0f} MB peak RSS"
                    )
        finally:
            _remove_database(base)
        results.append(size)
    return results


def _extras(size: SizeResult, variant: str) -> float:
    """Median seconds a variant spent on the seed's three extra models."""
    stages = size.stage_medians(variant)
    return sum(stages.get(name, 0.0) for name in EXTRA_MODELS)


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def report(results: list[SizeResult], threads: int, memory_limit: str, render_times: list[float] | None) -> str:
    import duckdb

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    runs = len(next(iter(results[0].runs.values()))) if results else 0
    lines = [
        "# journey-sql benchmark",
        "",
        f"Generated by `python benchmarks/run.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        f"- machine: {os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}, Python {platform.python_version()}",
        f"- DuckDB {duckdb.__version__}, {threads} threads, memory_limit {memory_limit}, temp directory next to the database file",
        f"- {runs} runs per variant per size, each on a fresh copy of the same generated database in a fresh process; "
        "medians (min-max in brackets)",
        "- seed = the seed project's eight models (its five documented ones and its three extras, the duration a view, "
        "as it ships them); journey-sql builds the same eight (asked for the seed's two event counts) plus its "
        "state, `jsql_events` and `jsql_state`; the five documented tables alone are compared below each size",
        "- wall = seconds for the variant's SQL (imports done); cpu = user+system seconds of the process in that time",
        "- peak RSS = the child process's own peak resident set (getrusage ru_maxrss), Python interpreter included; "
        "one process per run because a peak never goes down",
        "",
    ]
    for size in results:
        lines += [
            f"## {size.events:,} events ({size.source_rows:,} source rows incl. redeliveries; generated in "
            f"{size.generate_seconds:.1f} s)",
            "",
            "| variant | wall s | cpu s | peak RSS MB | events/s | vs seed | vs floor |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for variant, rs in size.runs.items():
            walls = [r["wall_seconds"] for r in rs]
            wall = statistics.median(walls)
            lines.append(
                f"| {variant} | {wall:.2f} ({min(walls):.2f}-{max(walls):.2f}) | {size.median(variant, 'cpu_seconds'):.2f} "
                f"| {size.median(variant, 'peak_rss_bytes') / 2**20:.0f} | {size.events / wall:,.0f} "
                f"| {_ratio(wall, size.median('seed', 'wall_seconds')) if 'seed' in size.runs else ''} "
                f"| {_ratio(wall, size.median('floor', 'wall_seconds')) if 'floor' in size.runs else ''} |"
            )
        for variant in ("journey-sql", "seed"):
            if variant in size.runs:
                stages = size.stage_medians(variant)
                rows = size.runs[variant][0]["tables"]
                lines += ["", f"{variant} per stage (median s, rows):", ""]
                lines += [
                    f"- {name}: {secs:.2f} s" + (f", {rows[name]['rows']:,} rows" if name in rows else "")
                    for name, secs in stages.items()
                ]
                if variant == "journey-sql":
                    other = size.median(variant, "wall_seconds") - sum(stages.values())
                    lines.append(f"- connect, source checks and counts: {other:.2f} s")
                    if "seed" in size.runs:
                        # the five documented models alone, like with like: each wall minus its extra models
                        five = size.median(variant, "wall_seconds") - _extras(size, variant)
                        seed_five = size.median("seed", "wall_seconds") - _extras(size, "seed")
                        lines.append(
                            f"- the five documented tables alone (each variant's wall minus its three extra-model "
                            f"stages): {five:.2f} s against the seed's {seed_five:.2f} s, {_ratio(five, seed_five)}"
                        )
        lines.append("")
    by_size = {s.events: s for s in results}
    if 1_000_000 in by_size and 10_000_000 in by_size:
        lines += ["## Growth", ""]
        for variant in by_size[10_000_000].runs:
            lines.append(
                f"- {variant}: time(10M) / time(1M) = "
                f"{by_size[10_000_000].median(variant, 'wall_seconds') / by_size[1_000_000].median(variant, 'wall_seconds'):.1f}"
            )
        lines.append("")
    if render_times:
        lines += [
            "## CLI cold start",
            "",
            f"`journey-sql render --dialect snowflake` in a new process, {len(render_times)} times: median "
            f"{statistics.median(render_times):.2f} s (min {min(render_times):.2f} s, max {max(render_times):.2f} s).",
            "",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, action="append", help="events to generate (repeatable) [100000]")
    parser.add_argument("--runs", type=int, default=3, help="runs per variant and size [3]")
    parser.add_argument("--threads", type=int, default=2, help="DuckDB threads [2]")
    parser.add_argument(
        "--memory-limit", default=DEFAULT_MEMORY_LIMIT, help=f"DuckDB memory limit [{DEFAULT_MEMORY_LIMIT}]"
    )
    parser.add_argument("--seed", type=int, default=42, help="data generator seed [42]")
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help="comma-separated subset of " + ", ".join(VARIANTS)
    )
    parser.add_argument("--work", type=Path, default=HERE / "work", help="scratch directory for databases")
    parser.add_argument("--results", type=Path, default=HERE / "results.md", help="markdown report to write")
    parser.add_argument("--render-repeats", type=int, default=10, help="cold starts of `render` to time (0: skip)")
    parser.add_argument("--worker", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(run_variant(args.worker, args.database, args.threads, args.memory_limit)))
        return 0
    variants = tuple(v for v in args.variants.split(",") if v)
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants: {', '.join(sorted(unknown))}")
    results = benchmark(
        args.events or [100_000], args.runs, args.threads, args.memory_limit, args.seed, args.work, variants
    )
    render_times = render_cold_start(args.render_repeats) if args.render_repeats else None
    text = report(results, args.threads, args.memory_limit, render_times)
    args.results.write_text(text + "\n")
    print("\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
