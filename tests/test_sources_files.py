"""Event files read by DuckDB: the demo data as Hive-partitioned Parquet and as gzipped JSON lines
gives the same five tables as the DuckDB table it was exported from."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from compare import assert_matches_reference
from reference import compute

from journey_sql.cli.app import cli
from journey_sql.core.stages import STAGES, stage_columns
from journey_sql.demo.data import generate

COLUMNS = ["id", "anonymous_id", "user_id", "event", "timestamp", "received_at"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DuckDB file with the demo's rudder.tracks, and the same rows as files beside it."""
    root = tmp_path_factory.mktemp("files")
    con = duckdb.connect(str(root / "w.duckdb"))
    generate(con, 3000, seed=11)
    con.execute(
        f"COPY (SELECT *, CAST(timestamp AS DATE) AS day FROM rudder.tracks) TO '{root}/parquet' "
        "(FORMAT PARQUET, PARTITION_BY (day))"
    )
    (root / "json").mkdir()
    con.execute(f"COPY rudder.tracks TO '{root}/json/events.jsonl.gz' (FORMAT JSON, COMPRESSION GZIP)")
    con.execute(f"COPY rudder.tracks TO '{root}/events.csv' (HEADER)")
    con.close()
    return root


def _apply(db: Path, *args: str) -> None:
    result = CliRunner().invoke(cli, ["apply", "--connection", f"duckdb:///{db}", "--depth", "4", *args])
    assert result.exit_code == 0, result.output


def _tables(db: Path, schema: str) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {
            s.name: sorted(
                con.execute(
                    f"SELECT {', '.join(chr(34) + c + chr(34) for c in stage_columns(s, 4))} FROM {schema}.{s.name}"
                ).fetchall(),
                key=repr,
            )
            for s in STAGES
        }
    finally:
        con.close()


@pytest.mark.parametrize(
    ("schema", "path"),
    [
        ("from_parquet_folder", "parquet"),  # a Hive-partitioned folder: day=2026-10-01/...
        ("from_parquet_glob", "parquet/*/*.parquet"),
        ("from_jsonl_gz", "json/*.jsonl.gz"),
        ("from_csv", "events.csv"),
    ],
)
def test_files_give_the_same_tables_as_the_table(exported: Path, schema: str, path: str) -> None:
    db = exported / "w.duckdb"
    _apply(db, "--schema", "from_table")
    _apply(db, "--schema", schema, "--source-path", str(exported / path))
    assert _tables(db, schema) == _tables(db, "from_table")


def test_files_match_the_reference(exported: Path) -> None:
    db = exported / "w.duckdb"
    _apply(db, "--schema", "from_parquet_ref", "--source-path", str(exported / "parquet"))
    con = duckdb.connect(str(db), read_only=True)
    rows = [
        dict(zip(COLUMNS, r, strict=True))
        for r in con.execute(f"SELECT {', '.join(COLUMNS)} FROM rudder.tracks").fetchall()
    ]
    got = {}
    for s in STAGES:
        cols = ", ".join(f'"{c}"' for c in stage_columns(s, 4))
        got[s.name] = con.execute(f"SELECT {cols} FROM from_parquet_ref.{s.name}").fetchall()
    con.close()
    assert_matches_reference(got, compute(rows, 30, 4), "parquet folder")


def test_a_missing_path_is_one_line(exported: Path) -> None:
    result = CliRunner().invoke(
        cli, ["apply", "--connection", f"duckdb:///{exported / 'w.duckdb'}", "--source-path", "nowhere/*.parquet"]
    )
    assert result.exit_code == 1 and "--source-path 'nowhere/*.parquet' matches no file" in result.output
    assert result.output.count("\n") == 1
