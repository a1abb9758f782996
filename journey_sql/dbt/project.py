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
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlglot import exp

from journey_sql import __version__
from journey_sql.dbt import docs
from journey_sql.dialects import Dialect, get_dialect
from journey_sql.errors import ConfigError
from journey_sql.incremental import WORK_SUFFIX, compile_incremental_plan
from journey_sql.plan import Plan, compile_plan
from journey_sql.render import state_values
from journey_sql.settings import Settings, check_identifier
from journey_sql.stages import EVENTS, PLAN_STAGES, SEMANTICS_VERSION, STAGES, STATE, stage_columns

# The schema the plan is compiled for; no table keeps it: every reference to it becomes Jinja.
PLACEHOLDER_SCHEMA = "jsqldbtschema"
# The file listing what `journey-sql dbt` wrote (and each file's hash), so a rerun replaces only its own files.
MANIFEST = ".journey-sql-dbt.json"
# dbt adapters journey-sql continues incrementally through dbt: verified with the real dbt in the test suite.
INCREMENTAL_ADAPTERS = ("duckdb", "postgres")
# adapters where counting the source is cheap (metadata or columnar), as the engines' cheap_source_count says
CHEAP_COUNT_ADAPTERS = ("duckdb", "snowflake", "bigquery", "databricks", "spark", "clickhouse")
# dbt adapter type per journey-sql dialect (what profiles.yml's `type:` must be)
ADAPTERS = {
    "duckdb": "duckdb",
    "postgres": "postgres",
    "redshift": "redshift",
    "snowflake": "snowflake",
    "bigquery": "bigquery",
    "databricks": "databricks",
    "spark": "spark",
    "clickhouse": "clickhouse",
    "trino": "trino",
    "athena": "athena",
}
MARKER = "jsql_run" + WORK_SUFFIX  # names the dbt invocation whose jsql_events made the work tables
SEPARATOR = "\n-- journey_sql: next statement\n"
_TOKEN = re.compile(r"jsqltok_(ref|rel|this|src|work|self)_(\w+?)_jsqlend")


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
    sources = _source_tables(settings)
    header = _header(command)
    files: dict[str, str] = {
        "dbt_project.yml": _project_yml(settings, profile, header, custom_schema),
        "models/journey_sql/sources.yml": header + _yaml(_sources_yml(settings, sources)),
        "models/journey_sql/schema.yml": header + _yaml(_schema_yml(settings)),
        "macros/journey_sql.sql": (Path(__file__).parent / "macros" / "journey_sql.sql").read_text(),
        "macros/journey_sql_settings.sql": _settings_macros(settings, dialect, command, incremental),
    }
    segments, makers = _segments(incremental) if incremental is not None else ({}, {})
    scripts = {
        name: SEPARATOR.join(_run(sql, name, sources, dialect) for sql in segment) for name, segment in segments.items()
    }
    after = _run_order(scripts, makers)
    for stage in PLAN_STAGES:
        files[f"models/journey_sql/{stage.name}.sql"] = _model(
            stage.name, full, scripts.get(stage.name), sorted(after.get(stage.name, ())), sources, command
        )
    files["README.md"] = _readme(settings, dialect, command, incremental is not None)
    return files


# -- models ---------------------------------------------------------------------------------------


def _model(
    name: str,
    full: Plan,
    script: str | None,
    after: list[str],
    sources: dict[tuple[str, str], str],
    command: str,
) -> str:
    step = full.step(name)
    lines = [
        f"{{# journey-sql {__version__}: {_jinja_comment(step.summary)}. Written by `{_jinja_comment(command)}`;",
        "   regenerate with the same command and --force rather than edit. The settings are the vars in",
        "   dbt_project.yml, checked by journey_sql_check_settings(); the materialization is set there too. #}",
        "{{ journey_sql_check_settings() }}",
    ]
    if name == STATE.name:
        # the last model of every run: after all the others, so its row says the tables are whole
        lines += [f"-- depends_on: {{{{ ref('{s.name}') }}}}" for s in STAGES]
    # (jsql_events' materialization drops jsql_state and the marker; jsql_state's drops the work tables)
    full_body = _jinja_sql(full.dialect.generate(step.select), name, sources, refs="ref", dialect=full.dialect)
    if script is None:
        lines.append(full_body)
        return "\n".join(lines) + "\n"
    lines += [f"-- depends_on: {{{{ ref('{m}') }}}}" for m in after]
    test = "journey_sql_continues_build()" if name == EVENTS.name else "journey_sql_continues_run()"
    lines += [f"{{% if {test} %}}", script, "{% else %}", full_body, "{% endif %}"]
    return "\n".join(lines) + "\n"


def _run_order(scripts: dict[str, str], makers: dict[str, str]) -> dict[str, set[str]]:
    """The models each model's incremental statements must run after, beyond the refs of its full SELECT
    (dbt runs independent models in any order, several at once with threads > 1): the makers of the work
    tables it reads, the models before it in the plan whose tables it reads, and for a table of a later
    model it reads as it was, that model must wait for this one."""
    order = [stage.name for stage in PLAN_STAGES]
    after: dict[str, set[str]] = {name: set() for name in order}
    for name, script in scripts.items():
        after[name] |= {makers[w] for w in re.findall(r"journey_sql_work\('(\w+)'\)", script)} - {name}
        for other in set(re.findall(r"journey_sql_relation\('(\w+)'\)", script)) - {name}:
            if order.index(other) < order.index(name):
                after[name].add(other)
            else:
                after[other].add(name)
    return after


def _segments(plan: Plan) -> tuple[dict[str, list[str]], dict[str, str]]:
    """The incremental plan's statements by the model that runs them: each work step goes to the model whose
    update comes next in the plan (so it runs before that update, as in `render --incremental`). Also which
    model writes each work table, so a model reading one depends on that model in dbt's DAG."""
    dialect = plan.dialect
    segments: dict[str, list[str]] = {}
    makers: dict[str, str] = {}
    marker = exp.table_(MARKER, db=PLACEHOLDER_SCHEMA)
    marker_select = exp.select(exp.alias_(exp.Literal.string(_INVOCATION), "invocation_id"))
    pending = [dialect.generate(s) for s in dialect.create_table_as(marker, marker_select)]
    made = [MARKER]
    for step in plan.steps:
        if step.kind == "work":
            pending += step.statements
            made.append(step.relation.name)
        elif step.kind == "update":
            segments[step.name] = [*pending, *step.statements]
            makers.update(dict.fromkeys(made, step.name))
            pending, made = [], []
        # "invalidate" steps: jsql_events' materialization drops the state on every engine; the "state" step
        # is jsql_state's model
    assert not pending and plan.steps[-1].kind == "state"
    return segments, makers


def _work_tables() -> list[str]:
    """Every work table an incremental run may leave, and the marker: jsql_state's materialization drops them."""
    from journey_sql.incremental import WORK_STAGES

    return [*(s.name + WORK_SUFFIX for s in (*WORK_STAGES, EVENTS, *STAGES)), MARKER]


def _run(sql: str, model: str, sources: dict[tuple[str, str], str], dialect: Dialect) -> str:
    return "-- journey_sql: run\n" + _jinja_sql(sql, model, sources, refs="rel", dialect=dialect)


def _jinja_sql(sql: str, model: str, sources: dict[tuple[str, str], str], refs: str, dialect: Dialect) -> str:
    """SQL compiled for the placeholder schema -> Jinja: tables become ref()/source()/this, the rest stays text
    (escaped where it holds Jinja's own delimiters, as an event name may)."""
    text = _tokenize(sql, model, sources, refs, dialect)
    out: list[str] = []
    pos = 0
    for match in _TOKEN.finditer(text):
        out.append(_escape(text[pos : match.start()]))
        out.append(_token_jinja(match.group(1), match.group(2), sources))
        pos = match.end()
    out.append(_escape(text[pos:]))
    return "".join(out).replace(_INVOCATION, "{{ invocation_id }}")


_INVOCATION = "jsqltok_invocation_jsqlend"


def _tokenize(sql: str, model: str, sources: dict[tuple[str, str], str], refs: str, dialect: Dialect) -> str:
    """Replace each table of the placeholder schema, each source table and the model's own name qualifying a
    column by a token. Names journey-sql wrote itself are plain (unquoted) identifiers; string literals (event
    names) are left alone, found by sqlglot's tokenizer."""
    import sqlglot
    from sqlglot.tokens import TokenType

    literals = [
        (t.start, t.end + 1)
        for t in sqlglot.tokenize(sql, read=dialect.sqlglot_name)
        if t.token_type in (TokenType.STRING, TokenType.NATIONAL_STRING, TokenType.RAW_STRING) and t.text != _INVOCATION
    ]
    names = {s.name for s in PLAN_STAGES}

    def in_literal(pos: int) -> bool:
        return any(start <= pos < end for start, end in literals)

    def table(name: str) -> str:
        if name.lower() == model:
            return f"jsqltok_this_{name}_jsqlend"
        if name.lower() in names:
            return f"jsqltok_{refs}_{name}_jsqlend"
        return f"jsqltok_work_{name}_jsqlend"

    patterns: list[tuple[re.Pattern[str], Any]] = [
        (re.compile(rf"(?<![\w.]){PLACEHOLDER_SCHEMA}\.(\w+)"), lambda m: table(m.group(1)))
    ]
    for (schema, name), key in sources.items():
        token = f"jsqltok_src_{key}_jsqlend"
        pattern = re.compile(rf"(?<![\w.]){re.escape(schema)}\.{re.escape(name)}(?!\w)", re.IGNORECASE)
        patterns.append((pattern, lambda m, token=token: token))
    if model:
        # DELETE ... WHERE <table>.column: the table's own name qualifies its columns
        pattern = re.compile(rf"(?<![\w.]){re.escape(model)}\.(?=\w)")
        patterns.append((pattern, lambda m: f"jsqltok_self_{model}_jsqlend."))
    spans: list[tuple[int, int, str]] = []
    for pattern, replace in patterns:
        for match in pattern.finditer(sql):
            if in_literal(match.start()) or any(s < match.end() and match.start() < e for s, e, _ in spans):
                continue
            spans.append((match.start(), match.end(), replace(match)))
    out, pos = [], 0
    for start, end, replacement in sorted(spans):
        out += [sql[pos:start], replacement]
        pos = end
    out.append(sql[pos:])
    return "".join(out)


def _token_jinja(kind: str, name: str, sources: dict[tuple[str, str], str]) -> str:
    if kind == "ref":
        return f"{{{{ ref('{name}') }}}}"
    if kind == "rel":
        return f"{{{{ journey_sql_relation('{name}') }}}}"
    if kind == "this":
        return "{{ this }}"
    if kind == "self":
        return "{{ this.include(database=False, schema=False) }}"
    if kind == "work":
        return f"{{{{ journey_sql_work('{name}') }}}}"
    schema, table = next(k for k, v in sources.items() if v == name)
    return f"{{{{ source('{schema}', '{table}') }}}}"


def _escape(text: str) -> str:
    """Text outside the tokens, safe from Jinja: each opening delimiter becomes a Jinja string printing it
    (only openers start Jinja; a lone `}}` or `%}` is plain text)."""
    return _OPENER.sub(lambda m: "{{ '" + m.group() + "' }}", text)


_OPENER = re.compile(r"\{[{%#]")


def _jinja_comment(text: str) -> str:
    return text.replace("#}", "# }").replace("{#", "{ #")


# -- sources, schema, settings ------------------------------------------------------------------


def _source_tables(settings: Settings) -> dict[tuple[str, str], str]:
    """(schema, table) of each source table -> its token key."""
    # (write_project refuses --source-path files, so every source here is a table)
    return {(t.schema or "", t.table or ""): f"s{i}" for i, t in enumerate(settings.sources.tables)}


def _sources_yml(settings: Settings, sources: dict[tuple[str, str], str]) -> dict[str, Any]:
    by_schema: dict[str, list[str]] = {}
    for schema, table in sources:
        by_schema.setdefault(schema, []).append(table)
    return {
        "version": 2,
        "sources": [
            {
                "name": schema,
                "description": "The event tables journey-sql reads (RudderStack/Segment tracks, or as mapped).",
                "tables": [{"name": t, "description": "Events, one row per delivery."} for t in tables],
            }
            for schema, tables in by_schema.items()
        ],
    }


def _schema_yml(settings: Settings) -> dict[str, Any]:
    models = []
    for stage in PLAN_STAGES:
        description, columns = docs.TABLES[stage.name]
        entries = []
        for column in stage_columns(stage, settings.depth, settings.count_columns):
            if column in columns:
                text, tests = columns[column]
            elif column.startswith("event_"):
                text, tests = docs.flow_column(int(column.split("_")[1]))
            else:
                event = settings.count_events[settings.count_columns.index(column)]
                text, tests = docs.count_column(event)
            # dbt renders descriptions as Jinja: an event name holding its delimiters stays text
            entry: dict[str, Any] = {"name": column, "description": _escape(text)}
            if tests:
                entry["data_tests"] = tests
            entries.append(entry)
        models.append({"name": stage.name, "description": description, "columns": entries})
    return {"version": 2, "models": models}


def _settings_values(settings: Settings) -> dict[str, Any]:
    return {
        "session_timeout": settings.session_timeout,
        "depth": settings.depth,
        "count_events": list(settings.count_events),
        "lookback_seconds": settings.lookback_seconds,
    }


def _project_yml(settings: Settings, profile: str, header: str, custom_schema: str | None) -> str:
    models: dict[str, Any] = {"+materialized": "journey_sql"}
    if custom_schema:
        models["+schema"] = custom_schema
    project = {
        "name": "journey_sql",
        "version": __version__,
        "config-version": 2,
        "profile": profile,
        "require-dbt-version": [">=1.10.0", "<2.0.0"],
        "model-paths": ["models"],
        "macro-paths": ["macros"],
        "clean-targets": ["target"],
        # The settings the SQL was compiled with. Changing one here (or overriding it from your project) stops
        # the run with a message: the SQL cannot follow a var, regenerate the project instead.
        "vars": {f"journey_sql_{k}": v for k, v in _settings_values(settings).items()},
        "models": {"journey_sql": models},
    }
    return header + "# The settings: the vars below are the ones the SQL was compiled with.\n" + _yaml(project)


def _settings_macros(settings: Settings, dialect: Dialect, command: str, incremental: Plan | None) -> str:
    values = state_values(settings)
    expected = {
        "semantics_version": SEMANTICS_VERSION,
        "session_timeout_us": settings.timeout_us,
        "depth": settings.depth,
        "count_events": values["count_events"],
        "source_hash": values["source_hash"],
    }
    source_count = _jinja_sql(
        dialect.generate(exp.select(exp.Count(this=exp.Star())).from_(settings.sources.relation())),
        "",
        _source_tables(settings),
        refs="rel",
        dialect=dialect,
    )

    def literal(value: Any) -> str:
        return json.dumps(value, ensure_ascii=True)

    return "\n".join(
        [
            f"{{# Written by journey-sql {__version__} (`{_jinja_comment(command)}`): what this project was compiled",
            "   for. Regenerate rather than edit. #}",
            "{% macro journey_sql_settings() %}",
            f"  {{{{ return({literal(_settings_values(settings))}) }}}}",
            "{% endmacro %}",
            "",
            "{# what jsql_state must say for a run to continue the last build (in jsql_state's column order) #}",
            "{% macro journey_sql_expected_state() %}",
            f"  {{{{ return({literal(expected)}) }}}}",
            "{% endmacro %}",
            "",
            "{% macro journey_sql_models() %}",
            f"  {{{{ return({literal([s.name for s in PLAN_STAGES])}) }}}}",
            "{% endmacro %}",
            "",
            "{% macro journey_sql_incremental_adapters() %}",
            f"  {{{{ return({literal(list(INCREMENTAL_ADAPTERS) if incremental else [])}) }}}}",
            "{% endmacro %}",
            "",
            "{% macro journey_sql_cheap_count_adapters() %}",
            f"  {{{{ return({literal(list(CHEAP_COUNT_ADAPTERS))}) }}}}",
            "{% endmacro %}",
            "",
            "{% macro journey_sql_source_count_sql() %}",
            f"{source_count}",
            "{% endmacro %}",
            "",
            "{% macro journey_sql_work_tables() %}",
            f"  {{{{ return({literal(_work_tables())}) }}}}",
            "{% endmacro %}",
            "",
            "{% macro journey_sql_marker() %}",
            f"  {{{{ return({literal(MARKER)}) }}}}",
            "{% endmacro %}",
            "",
            "{% macro journey_sql_command() %}",
            f"  {{{{ return({literal(command)}) }}}}",
            "{% endmacro %}",
            "",
        ]
    )


def _header(command: str) -> str:
    return (
        f"# Written by journey-sql {__version__}: {command}\n"
        "# Regenerate with the same command and --force rather than edit: journey-sql replaces the files it wrote.\n"
    )


def _readme(settings: Settings, dialect: Dialect, command: str, incremental: bool) -> str:
    how = (
        "`dbt run` on an existing build continues it incrementally, exactly as `journey-sql apply` does; "
        "`dbt run --full-refresh` rebuilds."
        if incremental
        else f"Every `dbt run` rebuilds the tables in full on {dialect.name} (journey-sql continues builds "
        "incrementally through dbt on DuckDB and PostgreSQL; `journey-sql apply` does it on every warehouse)."
    )
    return (
        f"# journey_sql (dbt project, {dialect.name})\n\n"
        f"Written by journey-sql {__version__}:\n\n```\n{command}\n```\n\n"
        "Regenerate with the same command and `--force` rather than edit these files; the settings the SQL was "
        "compiled with are the `vars` in `dbt_project.yml`.\n\n"
        f"Build it with `dbt build --project-dir .` and a profile named in `dbt_project.yml`. {how}\n\n"
        "The tables and their columns are described in `models/journey_sql/schema.yml` and in journey-sql's "
        "docs/semantics.md.\n"
    )


def _yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000)


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
