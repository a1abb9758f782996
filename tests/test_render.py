"""Rendering: golden SQL per dialect and stage, and every dialect's output parses back in that dialect."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from journey_sql.compile.plan import compile_plan
from journey_sql.compile.script import render_script
from journey_sql.compile.templates import Relations, render_template
from journey_sql.core.errors import ConfigError, TemplateError
from journey_sql.core.stages import PLAN_STAGES, STAGES
from journey_sql.dialects.dialect import DIALECTS, get_dialect
from journey_sql.settings.options import Settings

GOLDEN = Path(__file__).parent / "golden"
DEFAULT = Settings.create()


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
@pytest.mark.parametrize("stage", PLAN_STAGES, ids=lambda s: s.name)
def test_golden_sql(dialect: str, stage, update_golden: bool) -> None:
    """Reviewed output per dialect; regenerate deliberately with `pytest --update-golden` and read the diff."""
    sql = render_script(DEFAULT, dialect, [stage.name]).split("\n", 1)[1]  # without the version header
    path = GOLDEN / dialect / f"{stage.name}.sql"
    if update_golden:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(sql)
        # comparing the file with what was just written proves nothing: the review is the diff
        pytest.skip(f"wrote {path}: review the diff (git diff tests/golden) before committing")
    assert path.exists(), f"no golden file {path}: run pytest --update-golden and review it"
    assert sql == path.read_text(), f"{path} differs: if the change is intended, run pytest --update-golden"


INCREMENTAL_DIALECTS = sorted(d for d in DIALECTS if get_dialect(d).row_level_dml)


@pytest.mark.parametrize("dialect", INCREMENTAL_DIALECTS)
def test_golden_incremental_script(dialect: str, update_golden: bool) -> None:
    """The whole `render --incremental` script per dialect, reviewed like the stages."""
    sql = render_script(DEFAULT, dialect, incremental=True).split("\n", 1)[1]  # without the version header
    path = GOLDEN / dialect / "incremental.sql"
    if update_golden:
        path.write_text(sql)
        pytest.skip(f"wrote {path}: review the diff (git diff tests/golden) before committing")
    assert path.exists(), f"no golden file {path}: run pytest --update-golden and review it"
    assert sql == path.read_text(), f"{path} differs: if the change is intended, run pytest --update-golden"


@pytest.mark.parametrize("dialect", sorted(set(DIALECTS) - set(INCREMENTAL_DIALECTS)))
def test_incremental_script_refused_without_row_level_dml(dialect: str) -> None:
    with pytest.raises(ConfigError, match="DELETE and INSERT of single rows"):
        render_script(DEFAULT, dialect, incremental=True)


def _incremental_steps(settings: Settings, d):
    from journey_sql.compile.incremental import compile_incremental_plan

    if not d.row_level_dml:  # apply builds these beside the live tables and swaps them in
        return compile_incremental_plan(settings, d, in_place=False).steps
    return compile_incremental_plan(settings, d).steps


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
@pytest.mark.parametrize("settings", [DEFAULT, Settings.create(session_timeout=0.75, depth=12, schema="Journeys")])
def test_every_statement_parses_back_in_its_dialect(dialect: str, settings: Settings) -> None:
    d = get_dialect(dialect)
    for step in (*compile_plan(settings, d).steps, *_incremental_steps(settings, d)):
        for sql in step.statements:
            tree = sqlglot.parse_one(sql, read=d.sqlglot_name, error_level=sqlglot.ErrorLevel.RAISE)
            assert tree is not None
            # and the reparsed tree generates the same SQL: nothing was silently dropped
            # (except that sqlglot reads Redshift's DATE_PART back as EXTRACT, which
            # on Redshift drops the fraction: the reason dialects/transforms.py builds it verbatim)
            regenerated = tree.sql(d.sqlglot_name, pretty=True)
            if dialect == "redshift":
                regenerated = regenerated.replace("EXTRACT(SECOND FROM ", "DATE_PART('second', ")
            assert regenerated == sql


MINUTE_DIFFS = re.compile(
    r"\b(TIMESTAMP_DIFF|DATETIME_DIFF|DATEDIFF|DATE_DIFF|TIMESTAMPDIFF|TIMEDIFF|MINUTES_BETWEEN)\s*\(", re.I
)


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_no_dialect_minute_diff_functions(dialect: str) -> None:
    sql = render_script(DEFAULT, dialect)
    assert not MINUTE_DIFFS.search(sql), MINUTE_DIFFS.search(sql)
    assert (
        not re.search(r"\bMINUTE\b", sql, re.I) or dialect == "redshift"
    )  # redshift truncates to the minute only to rebuild exact microseconds


@pytest.mark.parametrize(
    ("dialect", "epoch"),
    [
        ("bigquery", "UNIX_MICROS("),
        ("snowflake", "DATE_PART(EPOCH_MICROSECOND,"),
        ("postgres", "EXTRACT(EPOCH FROM"),
        ("redshift", "DATE_PART('second',"),
        ("spark", "UNIX_MICROS("),
        ("databricks", "UNIX_MICROS("),
        ("trino", "TO_UNIXTIME("),
        ("clickhouse", "toUnixTimestamp64Micro(toDateTime64("),
        ("duckdb", "EPOCH_US("),
    ],
)
def test_exact_epoch_function_per_dialect(dialect: str, epoch: str) -> None:
    sql = render_script(DEFAULT, dialect, ["dbt_mapped_tracks"])
    assert epoch in sql
    if dialect != "duckdb":
        assert "EPOCH_US(" not in sql.upper()


def test_render_all_stages_in_run_order_with_terminators() -> None:
    script = render_script(DEFAULT, "snowflake")
    positions = [script.index(f"analytics.{s.name} AS") for s in STAGES]
    assert positions == sorted(positions)
    statements = [s for s in sqlglot.parse(script, read="snowflake") if s is not None]
    assert len(statements) == 1 + len(PLAN_STAGES)  # CREATE SCHEMA, then one CREATE OR REPLACE per stage
    assert statements[0].sql("snowflake", comments=False) == "CREATE SCHEMA IF NOT EXISTS analytics"
    assert script.rstrip().endswith(";")


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_render_script_creates_the_schema_and_is_one_transaction_where_ddl_is(dialect: str) -> None:
    lines = [line for line in render_script(DEFAULT, dialect).splitlines() if line and not line.startswith("--")]
    transactional = dialect in ("duckdb", "postgres", "redshift")
    # ClickHouse calls a schema a database
    create = f"CREATE {'DATABASE' if dialect == 'clickhouse' else 'SCHEMA'} IF NOT EXISTS analytics;"
    assert lines[0] == ("BEGIN;" if transactional else create)
    assert (lines[-1] == "COMMIT;") == transactional
    assert create in lines[:2]


def test_postgres_replaces_with_drop_then_create() -> None:
    script = render_script(DEFAULT, "postgres", ["dbt_aliases_mapping"])
    assert "DROP TABLE IF EXISTS analytics.dbt_aliases_mapping;" in script
    assert "CREATE OR REPLACE" not in script


def test_depth_sets_flow_columns() -> None:
    sql = render_script(Settings.create(depth=7), "duckdb", ["dbt_tracks_flow"])
    assert "event_7" in sql and "event_8" not in sql


def test_user_names_reach_the_sql() -> None:
    s = Settings.create(source_schema="raw", source_table="web_tracks", schema="journeys")
    sql = render_script(s, "bigquery")
    assert "FROM raw.web_tracks AS src" in sql
    assert "journeys.dbt_mapped_tracks" in sql


def test_unknown_dialect_suggests_a_name() -> None:
    with pytest.raises(ConfigError, match="Did you mean 'snowflake'"):
        render_script(DEFAULT, "snowflak")


def test_a_broken_template_names_itself(tmp_path, monkeypatch) -> None:
    import journey_sql.compile.templates as render

    for stage in PLAN_STAGES:
        (tmp_path / stage.template).write_text("SELECT FROM WHERE (")
    for name in ("_events.sql.j2", "_macros.sql.j2"):
        (tmp_path / name).write_text("")
    monkeypatch.setattr(render, "template_dir", lambda: tmp_path)
    render.template_environment.cache_clear()
    try:
        with pytest.raises(TemplateError, match=r"jsql_events\.sql\.j2"):
            render_script(DEFAULT, "duckdb")
    finally:
        render.template_environment.cache_clear()


def test_template_renders_timeout_in_microseconds() -> None:
    sql = render_template(STAGES[2], Settings.create(session_timeout=45.5), Relations.for_settings(DEFAULT))
    assert "2730000000" in sql


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_the_plan_reads_the_source_once(dialect: str) -> None:
    """Only the events step names the source; every other step, and the counts, read the events table.

    DuckDB's events step names it three times: duckdb_rank_repeated_ids_only scans it again rather than sort it."""
    from journey_sql.compile.plan import compile_plan

    scans = 3 if dialect == "duckdb" else 1
    for settings, tables in ((DEFAULT, 1), (Settings.create(source_table=["tracks", "pages"]), 2)):
        plan = compile_plan(settings, get_dialect(dialect))
        reads = [
            step.name
            for step in plan.steps
            for table in step.select.find_all(exp.Table)
            if table.db.lower() == "rudder"
        ]
        assert reads == ["jsql_events"] * tables * scans, reads
        assert not [t for t in plan.source_stats.find_all(exp.Table) if t.db.lower() == "rudder"]
        assert plan.script().split("\n", 1)[1].lower().replace("`", "").count("rudder.tracks") == scans  # no header


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_the_incremental_plan_reads_the_source_once_and_drops_its_work_tables(dialect: str) -> None:
    """Only the new-rows step names the source; every work table is dropped at the end of the script.

    DuckDB's names it twice: duckdb_prunable_received_window reads the rows without a received_at apart."""
    from journey_sql.compile.incremental import WORK_SUFFIX, compile_incremental_plan

    d = get_dialect(dialect)
    scans = 2 if dialect == "duckdb" else 1
    for in_place in (True, False):
        plan = compile_incremental_plan(DEFAULT, d, in_place=in_place)
        reads = [s.name for s in plan.steps for t in s.select.find_all(exp.Table) if t.db.lower() == "rudder"]
        assert reads == ["jsql_new_rows"] * scans, reads
        work = [s.relation for s in plan.steps if s.kind == "work"]
        assert work and all(t.name.endswith(WORK_SUFFIX) for t in work)
        # work tables are the session's temporary tables where the dialect has them, else in the target schema
        assert all((t.catalog, t.db) == (d.temporary_schema or ("", "analytics")) for t in work), work
        # every table a later step reads was written by an earlier step or is a table of the last build
        written: set[str] = set()
        finals = {s.name for s in PLAN_STAGES}
        for step in plan.steps:
            for table in step.select.find_all(exp.Table):
                if table.db.lower() not in ("", "rudder"):  # "": a CTE
                    assert table.name in written or table.name in finals, (step.name, table.name)
            written.add(step.relation.name)
        if in_place and d.row_level_dml:
            script = plan.script()
            drops = [f"DROP TABLE IF EXISTS {t.sql(d.sqlglot_name)}" for t in work]
            assert all(drop in script for drop in drops), drops
            # without transactional DDL the state goes first and comes back last: a stopped run leaves none
            if not d.transactional_ddl:
                drop_state = script.index("DROP TABLE IF EXISTS analytics.jsql_state")
                first_delete = script.index("DELETE FROM")
                assert drop_state < first_delete < script.rindex("analytics.jsql_state")
