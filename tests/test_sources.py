"""Column mapping, layouts and several source tables: what is accepted, what is rejected, and the SQL made."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import sqlglot
from click.testing import CliRunner

from journey_sql.cli.app import cli
from journey_sql.compile.script import render_script
from journey_sql.core.errors import ConfigError
from journey_sql.settings.mapping import parse_expression
from journey_sql.settings.options import Settings
from journey_sql.settings.sources import build_source

# -- rejected expressions: one line each, before anything runs ---------------------------------

REJECTED = [
    ("event=(SELECT name FROM rudder.pages LIMIT 1)", "subquery"),
    ("event=event; DROP TABLE rudder.tracks", "';' ends a statement"),
    ("event=DROP TABLE rudder.tracks", "statement"),
    ("event=CREATE TABLE x AS SELECT 1", "statement"),
    ("event=other.event", "names a table"),
    ("event=read_csv('/etc/passwd')", "reads another table or file"),
    ("event=query_table('rudder.pages')", "reads something other than the event row"),
    ("event=EXTERNAL_QUERY('conn', 'SELECT 1')", "reads something other than the event row"),
    ("event=COUNT(*)", "aggregate functions"),
    ("event=MAX(event)", "aggregate functions"),
    ("event=LAG(event) OVER (ORDER BY timestamp)", "window functions"),
    ("event=", "empty"),
    ("event=CAST(", "not valid SQL"),
]


@pytest.fixture
def tracks_db(tmp_path: Path) -> Path:
    from journey_sql.demo.data import generate

    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    generate(con, 500, seed=1)
    con.close()
    return path


def _schemas(path: Path) -> set[str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {r[0] for r in con.execute("SELECT schema_name FROM information_schema.schemata").fetchall()}
    finally:
        con.close()


@pytest.mark.parametrize(("column", "reason"), REJECTED)
def test_rejected_expressions_give_one_line_and_run_nothing(tracks_db: Path, column: str, reason: str) -> None:
    result = CliRunner().invoke(cli, ["apply", "--connection", f"duckdb:///{tracks_db}", "--column", column])
    assert result.exit_code == 1, result.output
    assert reason in result.output
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1
    assert "Traceback" not in result.output
    assert "analytics" not in _schemas(tracks_db)  # nothing was built, not even the schema
    # the source is untouched
    con = duckdb.connect(str(tracks_db), read_only=True)
    assert con.execute("SELECT COUNT(*) FROM rudder.tracks").fetchone()[0] > 0
    con.close()


def test_render_rejects_the_same_expressions() -> None:
    result = CliRunner().invoke(cli, ["render", "--column", "event=(SELECT 1)"])
    assert result.exit_code == 1 and "subquery" in result.output


@pytest.mark.parametrize(
    ("column", "message"),
    [
        ("event=no_such_column", "lacks the column(s) no_such_column (for event)"),
        ("timestamp=epoch_ms(ts_millis)", "--column timestamp="),
        ("event=nosuchfunction(event)", "does not run on"),
        ("timestamp=event", "timestamp is VARCHAR"),
        ("user_id=context_screen_width", "user_id is INTEGER"),
        ("pages.event=name", "'pages' is not a source table"),
        ("evnt=event_text", "Did you mean 'event'"),
    ],
)
def test_mapping_the_source_cannot_feed_is_a_clear_error(tracks_db: Path, column: str, message: str) -> None:
    result = CliRunner().invoke(cli, ["apply", "--connection", f"duckdb:///{tracks_db}", "--column", column])
    assert result.exit_code == 1
    assert message in result.output, result.output
    assert result.output.count("\n") == 1
    assert "analytics" not in _schemas(tracks_db)


def test_missing_column_advice_names_the_flag_and_a_close_column(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA rudder")
    con.execute(
        "CREATE TABLE rudder.tracks (event_id VARCHAR, anonymous_id VARCHAR, user_id VARCHAR, event VARCHAR, "
        "timestamp TIMESTAMP, received_at TIMESTAMP)"
    )
    con.close()
    result = CliRunner().invoke(cli, ["apply", "--connection", f"duckdb:///{path}"])
    assert "lacks the column(s) id" in result.output and "--column id=event_id" in result.output


# -- accepted expressions and the SQL they make ------------------------------------------------


def test_plain_tracks_table_is_read_as_is() -> None:
    relation = Settings.create().sources.relation()
    assert relation.sql() == "rudder.tracks"


def test_mapping_makes_a_derived_table_with_the_six_columns() -> None:
    relation = Settings.create(columns=["event=event_text"]).sources.relation()
    sql = relation.sql("duckdb")
    assert sql.startswith("(SELECT id AS id, ") and "event_text AS event" in sql and "FROM rudder.tracks" in sql


@pytest.mark.parametrize(
    ("dialect", "expected"),
    [
        ("postgres", "TO_TIMESTAMP(CAST(ts_ms AS DOUBLE PRECISION) / POWER(10, 3)) AS timestamp"),
        ("bigquery", "TIMESTAMP_MILLIS(ts_ms) AS timestamp"),
        ("snowflake", "TO_TIMESTAMP(ts_ms, 3) AS timestamp"),
        ("spark", "TIMESTAMP_MILLIS(ts_ms) AS timestamp"),
    ],
)
def test_mapped_expressions_are_transpiled_per_dialect(dialect: str, expected: str) -> None:
    script = render_script(Settings.create(columns=["timestamp=epoch_ms(ts_ms)"]), dialect, ["jsql_events"])
    assert expected in script
    for statement in sqlglot.transpile(script, read=dialect, write=dialect):
        assert statement  # parses back in the dialect


def test_several_tables_union_all_in_the_given_order() -> None:
    s = Settings.create(source_table=["tracks", "pages", "screens"], columns=["pages.event=title"])
    sql = s.sources.relation().sql("duckdb")
    assert sql.count("UNION ALL") == 2
    assert sql.index("FROM rudder.tracks") < sql.index("FROM rudder.pages") < sql.index("FROM rudder.screens")
    assert "title AS event" in sql and "COALESCE('Screen: ' || name, 'Screen') AS event" in sql


def test_qualified_mapping_wins_over_unqualified() -> None:
    source = build_source(None, "rudder", ("tracks", "pages"), None, [("event", "e1"), ("pages.event", "e2")])
    assert dict(source.tables[0].mapping)["event"] == "e1"
    assert dict(source.tables[1].mapping)["event"] == "e2"


def test_snowplow_layout_reads_atomic_events() -> None:
    s = Settings.create(layout="snowplow", columns=["user_id=network_userid"])
    table = s.sources.tables[0]
    assert (table.schema, table.table) == ("atomic", "events")
    assert dict(table.mapping) == {
        "id": "event_id",
        "anonymous_id": "domain_userid",
        "user_id": "network_userid",
        "event": "event_name",
        "timestamp": "derived_tstamp",
        "received_at": "collector_tstamp",
    }


def test_segment_layout_has_rudderstacks_columns() -> None:
    assert Settings.create(layout="segment").sources.relation().sql() == "rudder.tracks"


@pytest.mark.parametrize(
    "text",
    [
        "CASE WHEN event_name = 'page_view' THEN 'Page: ' || page_urlpath ELSE event_name END",
        "epoch_ms(ts)",
        "CAST(sent AS TIMESTAMP)",
        "COALESCE(user_id, LOWER(email))",
        "TRY_CAST(x AS VARCHAR)",
    ],
)
def test_scalar_expressions_are_accepted(text: str) -> None:
    parse_expression("event", text)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"layout": "snowplough"}, "Did you mean 'snowplow'"),
        ({"columns": ["event"]}, "COLUMN=EXPRESSION"),
        ({"source_table": ["tracks", "TRACKS"]}, "twice"),
        ({"source_table": ["tracks", "pages"], "source_path": "x.parquet"}, "not both"),
        ({"source_path": "events/data"}, "does not exist"),
        ({"source_path": "events/data*"}, "cannot tell the file format"),
    ],
)
def test_bad_source_settings(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.create(**kwargs)


def test_source_path_renders_only_for_duckdb() -> None:
    assert "READ_PARQUET('events/*.parquet', hive_partitioning = TRUE)" in render_script(
        Settings.create(source_path="events/*.parquet"), "duckdb"
    )
    with pytest.raises(ConfigError, match="reads files with DuckDB"):
        render_script(Settings.create(source_path="events/*.parquet"), "snowflake")


def test_columns_table_in_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "journey-sql.toml").write_text(
        'source_table = ["tracks", "pages"]\n[columns]\nevent = "event_text"\n[columns.pages]\nevent = "title"\n'
    )
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["render", "--stage", "jsql_events"])  # the step that reads the source
    assert result.exit_code == 0, result.output
    assert "event_text AS event" in result.output and "title AS event" in result.output
    # a flag replaces the file's list
    result = CliRunner().invoke(cli, ["render", "--stage", "jsql_events", "--column", "event=x"])
    assert "x AS event" in result.output and "event_text" not in result.output


def test_a_targets_columns_apply_to_its_runs(tracks_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "journey-sql.toml").write_text(
        f'[targets.local]\nconnection = "duckdb:///{tracks_db}"\n[targets.local.columns]\nevent = "nope"\n'
    )
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["apply", "--target", "local"])
    assert result.exit_code == 1 and "lacks the column(s) nope (for event)" in result.output
    result = CliRunner().invoke(cli, ["apply", "--target", "local", "--column", "event=event_text"])
    assert result.exit_code == 0, result.output


def test_demo_refuses_source_options(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["demo", "--database", str(tmp_path / "d.duckdb"), "--layout", "snowplow"])
    assert result.exit_code == 1 and "apply to `journey-sql apply`" in result.output
