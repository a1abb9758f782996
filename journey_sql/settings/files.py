"""Event files (Parquet, JSON, CSV) read with DuckDB: which reader, which files, which types."""

from __future__ import annotations

import glob
import os
import re
from pathlib import Path

import sqlglot
from sqlglot import exp

from journey_sql.core.errors import ConfigError
from journey_sql.core.stages import SOURCE_COLUMNS
from journey_sql.dialects.dialect import CANONICAL

FILE_READERS = {
    ".parquet": "read_parquet",
    ".json": "read_json_auto",
    ".jsonl": "read_json_auto",
    ".ndjson": "read_json_auto",
    ".csv": "read_csv_auto",
    ".tsv": "read_csv_auto",
}
_COMPRESSION = (".gz", ".zst")


def file_format(path: str) -> str | None:
    """'.parquet', '.json', ... from a path or glob, ignoring a compression suffix."""
    name = path.rstrip("/").lower()
    for suffix in _COMPRESSION:
        name = name.removesuffix(suffix)
    for ext in FILE_READERS:
        if name.endswith(ext):
            return ext
    return None


def resolve_path(path: str) -> str:
    """A glob DuckDB can read: a local folder becomes `folder/**/*.<format of its files>`."""
    if "://" not in path and file_format(path) is None and not _is_glob(path):
        check_local_files(path)  # a folder that does not exist: say that, not that its format is unknown
    if "://" not in path and os.path.isdir(os.path.expanduser(path)):
        folder = Path(os.path.expanduser(path))
        for file in sorted(folder.rglob("*")):
            if file.is_file() and file_format(file.name):
                suffix = file.name[file.name.lower().rindex(file_format(file.name) or "") :]
                return f"{str(folder).rstrip('/')}/**/*{suffix}"
        raise ConfigError(f"--source-path {path!r} is a folder without .parquet, .json, .jsonl or .csv files in it.")
    if file_format(path) is None:
        raise ConfigError(
            f"--source-path {path!r}: cannot tell the file format. Name files (or the glob) *.parquet, "
            "*.json, *.jsonl, *.json.gz or *.csv, e.g. 'events/*.parquet' or 'events/**/*.parquet'."
        )
    return path


def _is_glob(path: str) -> bool:
    return any(c in path for c in "*?[")


def check_local_files(path: str) -> None:
    """A local --source-path must exist, and a glob match a file: checked before a database is opened, so a
    typo leaves no new, empty DuckDB file behind (paths with a scheme, s3:// and the like, are DuckDB's to read)."""
    if "://" in path:
        return
    local = os.path.expanduser(path)
    where = "" if os.path.isabs(local) else f" (relative to {os.getcwd()})"
    if not _is_glob(local) and not os.path.exists(local):
        raise ConfigError(
            f"--source-path {path!r} does not exist{where}. Give the folder or files holding the events, "
            "e.g. --source-path events or --source-path 'events/*.parquet'."
        )
    if _is_glob(local) and not glob.glob(local, recursive=True):
        raise ConfigError(
            f"--source-path {path!r} matches no file{where}. Check the folder and the file extension, "
            "e.g. 'events/*.parquet' or 'events/**/*.jsonl'."
        )


def typed_for_text_files(column: str, expression: str) -> str:
    """JSON and CSV carry no types and DuckDB guesses them (a UUID-looking id becomes UUID, a timestamp
    written without a fraction in some rows stays VARCHAR): a column read by name gets the type we read."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", expression):
        return expression
    return f"CAST({expression} AS {'TIMESTAMP' if SOURCE_COLUMNS[column] == 'timestamp' else 'VARCHAR'})"


def file_relation(path: str) -> exp.Expression:
    """DuckDB's reader for the files, with Hive partitions (day=2026-10-01/) read as columns."""
    reader = FILE_READERS[file_format(path) or ".parquet"]
    literal = exp.Literal.string(path).sql(CANONICAL)
    sql = f"SELECT * FROM {reader}({literal}, hive_partitioning = true)"
    return sqlglot.parse_one(sql, read=CANONICAL).args["from_"].this
