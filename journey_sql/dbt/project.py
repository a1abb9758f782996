"""`journey-sql dbt`: the tables as a dbt project that dbt itself builds, tests, documents and continues.

Every model's SQL is the plan's: the same transformed SELECTs `render` prints
(plan.compile_plan) and, where dbt continues a build incrementally, the same
statements `render --incremental` prints (incremental.compile_incremental_plan),
compiled for one placeholder schema whose table references then become
`{{ ref() }}`, `{{ source() }}`, `{{ this }}` or a lookup of a later model
(journey_sql_relation, since a ref to a later model would be a cycle). The
incremental statements are split between the models: each model runs the work
steps that come before its own update in the plan, so dbt's DAG runs them in the
plan's order. The materialization that runs them is static Jinja in
`macros/journey_sql.sql`, shipped as is.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from journey_sql import __version__
from journey_sql.compile.incremental import compile_incremental_plan
from journey_sql.compile.plan import compile_plan
from journey_sql.core.errors import ConfigError
from journey_sql.core.stages import PLAN_STAGES
from journey_sql.dbt.files import (
    dump_yaml,
    file_header,
    project_yml,
    readme,
    schema_yml,
    settings_macros,
    source_tables,
    sources_yml,
)
from journey_sql.dbt.models import (
    ADAPTERS,
    INCREMENTAL_ADAPTERS,
    PLACEHOLDER_SCHEMA,
    SEPARATOR,
    model_sql,
    plan_segments,
    run_order,
    run_sql,
)
from journey_sql.dialects.dialect import Dialect, get_dialect
from journey_sql.settings.options import Settings, check_identifier

# The file listing what `journey-sql dbt` wrote (and each file's hash), so a rerun replaces only its own files.
MANIFEST = ".journey-sql-dbt.json"


@dataclass(frozen=True)
class Written:
    out: Path
    files: tuple[str, ...]  # relative paths, in the order written
    adapter: str
    incremental: bool


def write_project(
    settings: Settings,
    dialect_name: str,
    out: str | Path,
    profile: str = "journey_sql",
    force: bool = False,
    command: str = "journey-sql dbt",
    custom_schema: str | None = None,
) -> Written:
    """Write the dbt project for `settings` and `dialect_name` into `out`; nothing is written if anything fails."""
    dialect = get_dialect(dialect_name)
    if any(t.path is not None for t in settings.sources.tables):
        raise ConfigError(
            "journey-sql dbt reads tables, not --source-path files: load the files into a table (or declare an "
            "external source in dbt) and pass --source-schema/--source-table."
        )
    check_identifier(profile, "--dbt-profile")
    files = render_files(settings, dialect, profile, command, custom_schema)
    folder = Path(out).expanduser()
    _check_folder(folder, files, force)
    _write(folder, files)
    return Written(folder, tuple(files), ADAPTERS[dialect.name], dialect.name in INCREMENTAL_ADAPTERS)


def render_files(
    settings: Settings, dialect: Dialect, profile: str, command: str, custom_schema: str | None = None
) -> dict[str, str]:
    """Every file of the project: relative path -> text."""
    placed = dataclasses.replace(settings, schema=PLACEHOLDER_SCHEMA)
    full = compile_plan(placed, dialect)
    incremental = None
    if dialect.name in INCREMENTAL_ADAPTERS:
        incremental = compile_incremental_plan(placed, dataclasses.replace(dialect, temporary_schema=None))
    sources = source_tables(settings)
    header = file_header(command)
    files: dict[str, str] = {
        "dbt_project.yml": project_yml(settings, profile, header, custom_schema),
        "models/journey_sql/sources.yml": header + dump_yaml(sources_yml(settings, sources)),
        "models/journey_sql/schema.yml": header + dump_yaml(schema_yml(settings)),
        "macros/journey_sql.sql": (Path(__file__).parent / "macros" / "journey_sql.sql").read_text(),
        "macros/journey_sql_settings.sql": settings_macros(settings, dialect, command, incremental),
    }
    segments, makers = plan_segments(incremental) if incremental is not None else ({}, {})
    scripts = {
        name: SEPARATOR.join(run_sql(sql, name, sources, dialect) for sql in segment)
        for name, segment in segments.items()
    }
    after = run_order(scripts, makers)
    for stage in PLAN_STAGES:
        files[f"models/journey_sql/{stage.name}.sql"] = model_sql(
            stage.name, full, scripts.get(stage.name), sorted(after.get(stage.name, ())), sources, command
        )
    files["README.md"] = readme(settings, dialect, command, incremental is not None)
    return files


# -- models ---------------------------------------------------------------------------------------


# -- sources, schema, settings ------------------------------------------------------------------


def command_line(args: list[str]) -> str:
    return "journey-sql dbt " + " ".join(shlex.quote(a) for a in args)


# -- writing: never a file journey-sql did not write ---------------------------------------------


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _existing_files(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        if path.is_file() or path.is_symlink():
            yield path


def _check_folder(folder: Path, files: dict[str, str], force: bool) -> None:
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"--out {folder} is a file, not a folder. Name a new or empty folder.")
    if not folder.exists():
        return
    manifest = folder / MANIFEST
    ours: dict[str, str] = {}
    if manifest.is_file():
        try:
            ours = dict(json.loads(manifest.read_text())["files"])
        except (ValueError, KeyError, TypeError):
            raise ConfigError(
                f"{manifest} is not the list journey-sql writes; remove it or choose another --out folder."
            ) from None
    present = [p.relative_to(folder).as_posix() for p in _existing_files(folder)]
    if not ours:
        if present:
            raise ConfigError(
                f"--out {folder} holds files journey-sql did not write (for example {present[0]}); nothing was "
                "written. Name a new or empty folder."
            )
        return
    if not force:
        raise ConfigError(
            f"--out {folder} already holds a journey-sql dbt project; add --force to replace the files journey-sql "
            "wrote there (it leaves every other file alone). Nothing was written."
        )
    for name, digest in ours.items():
        path = folder / name
        if path.is_file() and _hash(path.read_text()) != digest:
            raise ConfigError(
                f"{path} was changed since journey-sql wrote it; --force would lose that change, so nothing was "
                "written. Move the file away (or undo the change) and run again."
            )
    for name in files:
        path = folder / name
        if name not in ours and (path.exists() or path.is_symlink()):
            raise ConfigError(
                f"{path} is not a file journey-sql wrote; nothing was written. Move it away and run again."
            )


def _write(folder: Path, files: dict[str, str]) -> None:
    manifest = folder / MANIFEST
    previous: dict[str, str] = {}
    if manifest.is_file():
        previous = dict(json.loads(manifest.read_text())["files"])
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".jsql-tmp")
        tmp.write_text(text)
        tmp.replace(path)
    for name in previous.keys() - files.keys():
        # a file an earlier run wrote and this one does not (unchanged: checked above)
        (folder / name).unlink(missing_ok=True)
    record = {"written_by": f"journey-sql {__version__}", "files": {n: _hash(t) for n, t in files.items()}}
    tmp = manifest.with_name(manifest.name + ".jsql-tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    tmp.replace(manifest)
