"""The benchmark, run small (100k events, two runs) so it cannot rot. No timing assertions."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

RUN_PY = Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"


@pytest.fixture(scope="module")
def bench():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("journey_sql_benchmark", RUN_PY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_benchmark_smoke_run(bench, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    lines: list[str] = []
    (size,) = bench.benchmark(
        [100_000], runs=2, threads=2, memory_limit="1GB", seed=42, work=tmp_path, echo=lines.append
    )

    assert size.events == 100_000
    assert size.source_rows > size.events  # about 1% redelivered copies
    expected = size.expected

    first, second = size.runs["journey-sql"]
    tables = first["tables"]
    # every event placed once: the generator's redeliveries are dropped, nothing else is
    for name in ("dbt_mapped_tracks", "dbt_track_facts", "dbt_tracks_flow"):
        assert tables[name]["rows"] == expected["placeable_events"], name
    assert 0 < tables["dbt_session_tracks"]["rows"] < expected["placeable_events"]
    # the CLI's per-stage timings were parsed for every stage, in run order
    # the events step reads the source; the state records the build
    assert list(first["stages"]) == ["jsql_events", *bench.JOURNEY_TABLES, "jsql_state"]
    assert "duplicate deliveries dropped" in first["cli_output"]
    assert first["threads"] == 2
    # a second run on a fresh copy builds exactly the same tables
    assert second["tables"] == tables

    seed_tables = size.runs["seed"][0]["tables"]
    # the seed keeps redeliveries: one mapped row per source row with an identity
    assert seed_tables["dbt_mapped_tracks"]["rows"] == expected["seed_mapped_rows"]
    # both map the same set of ids (the demo data has no identity-less duplicates)
    assert seed_tables["dbt_aliases_mapping"]["rows"] == tables["dbt_aliases_mapping"]["rows"]
    assert seed_tables["dbt_track_facts"]["rows"] > 0 and seed_tables["dbt_tracks_flow"]["rows"] > 0
    # and its three extra models: one row per seed session, the duration a view over them
    seed_sessions = seed_tables["dbt_session_tracks"]["rows"]
    assert seed_tables["dbt_session_track_facts"]["rows"] == seed_sessions
    assert seed_tables["dbt_session_duration"]["rows"] == seed_sessions
    assert 0 < seed_tables["dbt_user_session_facts"]["rows"] <= seed_sessions
    assert list(size.runs["seed"][0]["stages"]) == [  # the order of the seed's README
        "dbt_aliases_mapping",
        "dbt_mapped_tracks",
        "dbt_session_tracks",
        "dbt_track_facts",
        "dbt_session_track_facts",
        "dbt_user_session_facts",
        "dbt_session_duration",
        "dbt_tracks_flow",
    ]

    floor = size.runs["floor"][0]["tables"]["tracks_with_previous"]
    assert floor["rows"] == size.source_rows

    for variant, runs in size.runs.items():
        assert len(runs) == 2
        for run in runs:
            assert run["wall_seconds"] > 0 and run["peak_rss_bytes"] >= run["rss_before_bytes"] > 0, variant

    text = bench.report([size], threads=2, memory_limit="1GB", render_times=[0.2, 0.3])
    needles = (
        "| journey-sql |",
        "| seed |",
        "| floor |",
        "dbt_track_facts",
        "five documented tables alone",
        "CLI cold start",
    )
    for needle in needles:
        assert needle in text
    assert not list(tmp_path.glob("*.duckdb")), "scratch databases are removed"
