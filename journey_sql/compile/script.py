"""The script `journey-sql render` prints: a plan's statements for a warehouse console, full or incremental."""

from __future__ import annotations

from journey_sql.compile.incremental import compile_incremental_plan
from journey_sql.compile.plan import compile_plan
from journey_sql.core.errors import ConfigError
from journey_sql.dialects.dialect import get_dialect
from journey_sql.settings.options import Settings
from journey_sql.settings.sources import require_duckdb


def render_script(
    settings: Settings, dialect_name: str, stage_names: list[str] | None = None, incremental: bool = False
) -> str:
    """The plan's script for a warehouse console (plan.Plan.script): the full build, or the incremental one."""
    dialect = get_dialect(dialect_name)
    require_duckdb(settings.sources, dialect.name)
    if not incremental:
        return compile_plan(settings, dialect).script(stage_names)  # compile_plan checks the names
    if stage_names:
        raise ConfigError("render --incremental prints the whole incremental script; leave out --stage.")
    if not dialect.row_level_dml:
        raise ConfigError(
            f"render --incremental needs a warehouse whose tables take DELETE and INSERT of single rows; "
            f"{dialect.name}'s do not. `journey-sql apply` builds {dialect.name} incrementally by rebuilding each "
            "table beside the live one and swapping it in."
        )
    return compile_incremental_plan(settings, dialect).script()
