"""The project's other files: dbt_project.yml, sources and schema YAML (docs and tests), the settings
macros, and the project's README."""

from __future__ import annotations

import json
from typing import Any

from sqlglot import exp

from journey_sql import __version__
from journey_sql.compile.plan import Plan
from journey_sql.compile.templates import state_values
from journey_sql.core.stages import PLAN_STAGES, SEMANTICS_VERSION, stage_columns
from journey_sql.dbt import docs
from journey_sql.dbt.models import (
    CHEAP_COUNT_ADAPTERS,
    INCREMENTAL_ADAPTERS,
    MARKER,
    escape_jinja,
    jinja_comment,
    jinja_sql,
    work_tables,
)
from journey_sql.dialects.dialect import Dialect
from journey_sql.settings.options import Settings


def source_tables(settings: Settings) -> dict[tuple[str, str], str]:
    """(schema, table) of each source table -> its token key."""
    # (write_project refuses --source-path files, so every source here is a table)
    return {(t.schema or "", t.table or ""): f"s{i}" for i, t in enumerate(settings.sources.tables)}


def sources_yml(settings: Settings, sources: dict[tuple[str, str], str]) -> dict[str, Any]:
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


def schema_yml(settings: Settings) -> dict[str, Any]:
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
            entry: dict[str, Any] = {"name": column, "description": escape_jinja(text)}
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


def project_yml(settings: Settings, profile: str, header: str, custom_schema: str | None) -> str:
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
    return header + "# The settings: the vars below are the ones the SQL was compiled with.\n" + dump_yaml(project)


def settings_macros(settings: Settings, dialect: Dialect, command: str, incremental: Plan | None) -> str:
    values = state_values(settings)
    expected = {
        "semantics_version": SEMANTICS_VERSION,
        "session_timeout_us": settings.timeout_us,
        "depth": settings.depth,
        "count_events": values["count_events"],
        "source_hash": values["source_hash"],
    }
    source_count = jinja_sql(
        dialect.generate(exp.select(exp.Count(this=exp.Star())).from_(settings.sources.relation())),
        "",
        source_tables(settings),
        refs="rel",
        dialect=dialect,
    )

    def literal(value: Any) -> str:
        return json.dumps(value, ensure_ascii=True)

    return "\n".join(
        [
            f"{{# Written by journey-sql {__version__} (`{jinja_comment(command)}`): what this project was compiled",
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
            f"  {{{{ return({literal(work_tables())}) }}}}",
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


def file_header(command: str) -> str:
    return (
        f"# Written by journey-sql {__version__}: {command}\n"
        "# Regenerate with the same command and --force rather than edit: journey-sql replaces the files it wrote.\n"
    )


def readme(settings: Settings, dialect: Dialect, command: str, incremental: bool) -> str:
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


def dump_yaml(data: Any) -> str:
    import yaml  # (loaded only when a project is written: the CLI starts without it)

    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000)
