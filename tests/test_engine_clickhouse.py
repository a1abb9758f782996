"""ClickHouse: each dialect transform on its own, the chdb engine's catalog and table
replacement, a source without Nullable columns (where ClickHouse's defaults would
stand in for NULL), the clickhouse-connect engine's arguments and SQL, and the
worked example in docs/warehouses.md."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlglot
from compare import assert_matches_reference
from hypothesis import given, settings
from reference import compute
from strategies import examples, pipeline_case

from journey_sql.compile.script import render_script
from journey_sql.core.errors import ConfigError, ConnectionError_, SourceError, StageError
from journey_sql.core.stages import PLAN_STAGES
from journey_sql.dialects.dialect import get_dialect
from journey_sql.engines.clickhouse import ClickHouseEngine, connect_args, unwrap_type
from journey_sql.engines.connection import parse_connection
from journey_sql.run.checks import check_source
from journey_sql.run.pipeline import run_pipeline
from journey_sql.settings.options import Settings

needs_chdb = pytest.mark.skipif(importlib.util.find_spec("chdb") is None, reason="chdb is not installed")
CH = get_dialect("clickhouse")


def transpiled(duckdb_sql: str) -> str:
    return CH.generate(CH.transpile(sqlglot.parse_one(duckdb_sql, read="duckdb")), pretty=False)


# -- the dialect, one construct at a time ------------------------------------------


def test_epoch_is_exact_microseconds_of_a_utc_datetime64() -> None:
    assert transpiled("SELECT epoch_us(t.ts) FROM t") == (
        "SELECT toUnixTimestamp64Micro(toDateTime64(t.ts, 6, 'UTC')) FROM t"
    )


def test_lag_and_lead_pad_with_null_over_the_whole_partition() -> None:
    sql = transpiled("SELECT LAG(x) OVER (PARTITION BY v ORDER BY t), LEAD(e, 3) OVER (ORDER BY n) FROM f")
    frame = "ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING"
    assert f"lagInFrame(toNullable(x)) OVER (PARTITION BY v ORDER BY t {frame})" in sql
    assert f"leadInFrame(toNullable(e), 3) OVER (ORDER BY n {frame})" in sql


def test_left_joins_get_join_use_nulls_for_the_whole_query() -> None:
    sql = transpiled(
        "WITH c AS (SELECT a.x FROM a LEFT JOIN b ON a.x = b.x WHERE b.x IS NULL) SELECT x FROM c UNION ALL SELECT 1"
    )
    assert sql.endswith("SELECT 1 SETTINGS join_use_nulls = 1")
    assert "SETTINGS" not in transpiled("SELECT a.x FROM a INNER JOIN b ON a.x = b.x")


def test_tables_are_mergetree_sorted_by_their_keys() -> None:
    script = render_script(Settings.create(), "clickhouse")
    assert "ENGINE=MergeTree\nORDER BY (dbt_visitor_id, timestamp, event_id)\nSETTINGS\n  allow_nullable_key = 1" in (
        script
    )
    assert "ORDER BY (session_id, track_sequence_number)" in script
    assert "ORDER BY (dbt_visitor_id, session_id)" in script  # dbt_session_duration
    assert script.count("CREATE OR REPLACE TABLE") == len(PLAN_STAGES)


def test_staging_tables_share_their_stage_sort_key_and_unknown_tables_have_none() -> None:
    select = sqlglot.parse_one("SELECT 1 AS alias")
    staged = CH.create_table_as(sqlglot.exp.table_("dbt_aliases_mapping__jsql_build", db="a"), select)[0]
    assert "ORDER BY alias\n" in CH.generate(staged)
    other = CH.create_table_as(sqlglot.exp.table_("something_else", db="a"), select)[0]
    assert "ORDER BY tuple()" in CH.generate(other) and "allow_nullable_key" not in CH.generate(other)


def test_text_casts_and_division_stay_as_clickhouse_means_them() -> None:
    # '/' is always floating-point division in ClickHouse; VARCHAR is Nullable(String)
    sql = transpiled("SELECT CAST(n AS VARCHAR) || ' - ' || v, CAST(d AS DOUBLE) / 60000000 FROM t")
    assert sql == "SELECT CAST(n AS Nullable(String)) || ' - ' || v, CAST(d AS Nullable(Float64)) / 60000000 FROM t"


def test_nulls_last_is_clickhouse_default_so_nothing_is_printed() -> None:
    # ClickHouse puts NULLs last for ASC and DESC alike, as DuckDB does; the
    # dedup window relies on it (a delivery without received_at ranks last)
    sql = transpiled("SELECT ROW_NUMBER() OVER (ORDER BY r ASC NULLS LAST, t DESC) FROM s")
    assert "ORDER BY r ASC, t DESC)" in sql and "NULLS" not in sql


def test_type_wrappers_are_seen_through() -> None:
    assert unwrap_type("LowCardinality(Nullable(String))") == "String"
    assert unwrap_type("Nullable(DateTime64(6, 'UTC'))") == "DateTime64(6, 'UTC')"
    assert unwrap_type("DateTime") == "DateTime"


# -- chdb ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ch():
    from engines.clickhouse import clickhouse_session

    with clickhouse_session() as harness:
        yield harness


# RudderStack-like types where no column is Nullable but user_id: every
# missing value would come back as '' or 0, not NULL, without the transforms.
NOT_NULLABLE = {
    "id": "String",
    "anonymous_id": "String",
    "user_id": "Nullable(String)",
    "event": "LowCardinality(String)",
    "timestamp": "DateTime64(6, 'UTC')",
    "received_at": "DateTime",
}


def _not_nullable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    kept = [r for r in rows if all(r[c] is not None for c in NOT_NULLABLE if c != "user_id")]
    # received_at is a whole-second DateTime: give the reference what the table holds
    return [{**r, "received_at": r["received_at"].replace(microsecond=0)} for r in kept]


def _load_not_nullable(ch, rows: list[dict[str, Any]]) -> None:
    from engines.clickhouse import literal

    cols = list(NOT_NULLABLE)
    ch.engine.execute("CREATE DATABASE IF NOT EXISTS rudder_nn")
    ch.engine.execute("DROP TABLE IF EXISTS rudder_nn.tracks")
    ch.engine.execute(
        f"CREATE TABLE rudder_nn.tracks ({', '.join(f'{c} {t}' for c, t in NOT_NULLABLE.items())}) "
        "ENGINE = MergeTree ORDER BY (id, timestamp)"
    )
    if rows:
        values = ", ".join("(" + ", ".join(literal(r[c]) for c in cols) + ")" for r in rows)
        ch.engine.execute(f"INSERT INTO rudder_nn.tracks VALUES {values}")


def _run_not_nullable(ch, rows: list[dict[str, Any]], timeout: float, depth: int) -> None:
    rows = _not_nullable(rows)
    _load_not_nullable(ch, rows)
    s = Settings.create(source_schema="rudder_nn", schema="journeys_nn", session_timeout=timeout, depth=depth)
    ch.run(s)
    assert_matches_reference(ch.fetch(s), compute(rows, timeout, depth), f"not nullable timeout={timeout}")


@needs_chdb
@given(pipeline_case())
@settings(max_examples=examples(8))
def test_a_source_without_nullable_columns_still_gives_nulls(ch, data) -> None:
    timeout, depth, rows = data
    _run_not_nullable(ch, rows, timeout, depth)


@needs_chdb
def test_a_source_without_nullable_columns_on_demo_data(ch, demo_rows) -> None:
    _run_not_nullable(ch, demo_rows, 20, 4)


@needs_chdb
def test_output_columns_keep_nulls_and_tables_are_mergetree(ch, demo_rows) -> None:
    _load_not_nullable(ch, _not_nullable(demo_rows[:300]))
    run_pipeline(ch.engine, Settings.create(source_schema="rudder_nn", schema="journeys_nn"), full_refresh=True)
    types = dict(
        ch.engine.query(
            "SELECT concat(table, '.', name), type FROM system.columns WHERE database = 'journeys_nn' "
            "AND name IN ('idle_time_minutes', 'next_session_start_at', 'event_2', 'event_5')"
        )
    )
    assert types == {
        "dbt_mapped_tracks.idle_time_minutes": "Nullable(Float64)",
        "dbt_session_tracks.next_session_start_at": "Nullable(DateTime64(6, 'UTC'))",
        "dbt_tracks_flow.event_2": "Nullable(String)",
        "dbt_tracks_flow.event_5": "Nullable(String)",
    }
    engines = ch.engine.query(
        "SELECT DISTINCT engine, sorting_key != '' FROM system.tables WHERE database = 'journeys_nn' "
        "AND name != 'jsql_state'"  # one row, no key
    )
    assert engines == [("MergeTree", 1)]


@needs_chdb
def test_the_chdb_session_counts_distinct_exactly_and_reads_utc(ch) -> None:
    settings = dict(
        ch.engine.query(
            "SELECT name, value FROM system.settings "
            "WHERE name IN ('count_distinct_implementation', 'session_timezone')"
        )
    )
    assert settings == {"count_distinct_implementation": "uniqExact", "session_timezone": "UTC"}


@needs_chdb
def test_source_check_reads_clickhouse_types(ch) -> None:
    ch.load([])
    assert check_source(ch.engine, Settings.create())["timestamp"] == "DateTime64(6, 'UTC')"
    ch.engine.execute("CREATE DATABASE IF NOT EXISTS rudder_bad")
    ch.engine.execute("DROP TABLE IF EXISTS rudder_bad.tracks")
    ch.engine.execute(
        "CREATE TABLE rudder_bad.tracks (id String, anonymous_id String, user_id String, event String, "
        "timestamp String, received_at DateTime) ENGINE = MergeTree ORDER BY tuple()"
    )
    with pytest.raises(SourceError, match=r"timestamp is String \(expected a timestamp type; map it with --column"):
        check_source(ch.engine, Settings.create(source_schema="rudder_bad"))
    # ClickHouse names are case-sensitive: Tracks is not tracks
    with pytest.raises(SourceError, match="Tables in rudder_bad: tracks"):
        check_source(ch.engine, Settings.create(source_schema="rudder_bad", source_table="Tracks"))


@needs_chdb
def test_a_rerun_exchanges_tables_and_a_failed_run_keeps_the_old_ones(ch, demo_rows, monkeypatch) -> None:
    s = Settings.create(schema="journeys_swap")
    ch.load(demo_rows[:200])
    run_pipeline(ch.engine, s, full_refresh=True)
    ch.load(demo_rows[:400])
    run_pipeline(ch.engine, s, full_refresh=True)  # replaces every table through EXCHANGE TABLES
    assert ch.engine.count_rows(sqlglot.exp.table_("dbt_mapped_tracks", db="journeys_swap")) == len(
        compute(demo_rows[:400]).mapped_tracks
    )
    before = ch.fetch(s)
    # the third stage fails after two staging tables were built
    real = ch.engine.execute

    def execute(sql: str) -> None:
        if sql.startswith("CREATE OR REPLACE TABLE journeys_swap.dbt_session_tracks__jsql_build"):
            raise RuntimeError("Code: 241. DB::Exception: Memory limit (total) exceeded\nstack trace ...")
        real(sql)

    monkeypatch.setattr(ch.engine, "execute", execute)
    ch.load(demo_rows[:100])
    failed = r"^Stage dbt_session_tracks failed on chdb:.*Memory limit .total. exceeded\..* No tables were changed"
    with pytest.raises(StageError, match=failed):
        run_pipeline(ch.engine, s, full_refresh=True)
    monkeypatch.undo()
    assert ch.fetch(s) == before
    assert not [t for t in ch.engine.tables("journeys_swap") if "__" in t]


@needs_chdb
def test_a_database_that_cannot_swap_tables_is_refused_before_any_stage(ch) -> None:
    from journey_sql.core.errors import JourneyError

    ch.load([])
    ch.engine.execute("CREATE DATABASE IF NOT EXISTS journeys_mem ENGINE = Memory")
    with pytest.raises(JourneyError, match="Database journeys_mem uses ClickHouse's Memory database engine"):
        run_pipeline(ch.engine, Settings.create(schema="journeys_mem"), full_refresh=True)
    assert ch.engine.tables("journeys_mem") == []


@needs_chdb
def test_a_failed_swap_is_one_line_and_keeps_the_table(ch) -> None:
    from journey_sql.core.errors import JourneyError

    ch.engine.execute("CREATE DATABASE IF NOT EXISTS journeys_x")
    ch.engine.execute("CREATE OR REPLACE TABLE journeys_x.t ENGINE = MergeTree ORDER BY tuple() AS SELECT 1 AS x")
    final, missing = sqlglot.exp.table_("t", db="journeys_x"), sqlglot.exp.table_("t__jsql_build", db="journeys_x")
    with pytest.raises(JourneyError, match=r"^Putting journeys_x.t in place failed on chdb:///.*previous rows") as info:
        ch.engine.replace_table(final, missing)
    assert "\n" not in str(info.value)
    assert ch.engine.query("SELECT x FROM journeys_x.t") == [(1,)]


# -- the clickhouse-connect server engine ----------------------------------------


def test_connect_args_from_the_url(monkeypatch) -> None:
    monkeypatch.setenv("CLICKHOUSE_PASSWORD", "s3cret")
    spec = parse_connection("clickhouse://analyst@ch.example.com/events?secure=true&connect_timeout=5")
    args, secrets = connect_args(spec)
    assert args == {
        "host": "ch.example.com",
        "port": 8443,
        "username": "analyst",
        "secure": True,
        "client_name": "journey-sql",
        "send_receive_timeout": 3600,
        "settings": {"count_distinct_implementation": "uniqExact"},
        "database": "events",
        "connect_timeout": 5,
        "password": "s3cret",
    }
    assert secrets == ["s3cret"]
    monkeypatch.delenv("CLICKHOUSE_PASSWORD")
    monkeypatch.setenv("JOURNEY_SQL_PASSWORD", "other")
    args, _ = connect_args(parse_connection("clickhouse://ch.local:8124"))
    assert (args["port"], args["username"], args["password"], "database" in args) == (8124, "default", "other", False)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("clickhouse://u@h/db?secrets=1", "Unknown ClickHouse connection parameter 'secrets'. Did you mean 'secure'"),
        ("clickhouse://u@h/db?secure=maybe", "secure must be true or false"),
        ("clickhouse:///db", "lacks a host"),
        ("clickhouse://u@h/db/x", "one database name"),
        ("clickhouse://u:pw@h/db", "Put no password in the connection URL"),
    ],
)
def test_bad_server_urls_say_what_to_fix(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        connect_args(parse_connection(url))
    assert "\n" not in str(info.value) and "pw" not in str(info.value).replace("password", "")


def test_an_unreachable_server_is_one_line_without_the_password(monkeypatch) -> None:
    pytest.importorskip("clickhouse_connect")
    monkeypatch.setenv("CLICKHOUSE_PASSWORD", "s3cret-pw")
    spec = parse_connection("clickhouse://analyst@127.0.0.1:1/events?connect_timeout=2")
    with pytest.raises(ConnectionError_) as info:
        ClickHouseEngine.connect(spec)
    message = str(info.value)
    assert message.startswith("Cannot connect to ClickHouse clickhouse://analyst@127.0.0.1:1/events")
    assert "\n" not in message and "s3cret-pw" not in message


def test_a_dbt_clickhouse_profile_becomes_a_server_url(tmp_path: Path) -> None:
    from journey_sql.engines.profiles import from_profile

    profiles = tmp_path / "profiles.yml"
    profiles.write_text(
        "ch:\n  target: prod\n  outputs:\n"
        "    prod: {type: clickhouse, host: ch.example.com, user: analyst, password: pw1, secure: true, "
        "schema: journeys, connect_timeout: 7}\n"
        "    native: {type: clickhouse, driver: native, host: h, port: 9000, schema: s}\n"
    )
    target = from_profile("ch", path=profiles)
    assert target.url == "clickhouse://analyst@ch.example.com:8443?secure=true&connect_timeout=7"
    assert target.secrets == {"password": "pw1"} and target.defaults == {"schema": "journeys"}
    args, _ = connect_args(parse_connection(target.url))
    assert (args["port"], args["secure"], args["connect_timeout"]) == (8443, True, 7)
    with pytest.raises(ConfigError, match="driver: http"):
        from_profile("ch", "native", path=profiles)


class ChdbAsClient:
    """clickhouse-connect's Client surface (command, query().result_rows, close) answered by chdb,
    so the server engine's own statements run on a real ClickHouse."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.statements: list[str] = []

    def command(self, sql: str) -> None:
        self.statements.append(sql)
        self.engine.execute(sql)

    def query(self, sql: str) -> SimpleNamespace:
        self.statements.append(sql)
        return SimpleNamespace(result_rows=self.engine.query(sql))

    def close(self) -> None:
        pass


@needs_chdb
def test_the_server_engine_statements_build_the_reference_tables(ch, demo_rows) -> None:
    client = ChdbAsClient(ch.engine)
    server = ClickHouseEngine(parse_connection("clickhouse://default@localhost:8123/default"), client)
    rows = demo_rows[:500]
    ch.load(rows)
    s = Settings.create(schema="journeys_server")
    for _ in range(2):  # the first run RENAMEs the staging tables, the second EXCHANGEs them
        run_pipeline(server, s, full_refresh=True)
    assert_matches_reference(ch.fetch(s), compute(rows), "clickhouse server engine")
    renamed = "RENAME TABLE journeys_server.dbt_aliases_mapping__jsql_build TO journeys_server.dbt_aliases_mapping"
    assert renamed in client.statements
    assert "EXCHANGE TABLES journeys_server.dbt_tracks_flow__jsql_build AND journeys_server.dbt_tracks_flow" in (
        client.statements
    )


# -- docs/warehouses.md's worked example, in its own process (chdb holds one directory per process)


DOCS_EXAMPLE = """\
journey-sql demo --events 2000 --seed 3
python -c "import duckdb; duckdb.connect('journey.duckdb', read_only=True).execute(\\"COPY rudder.tracks TO 'tracks.parquet' (FORMAT parquet)\\")"
python -c "import chdb; c = chdb.connect('ch-data'); c.query('CREATE DATABASE IF NOT EXISTS rudder'); c.query(\\"CREATE TABLE rudder.tracks ENGINE = MergeTree ORDER BY tuple() AS SELECT * FROM file('tracks.parquet')\\")"
journey-sql apply --connection chdb:///ch-data --schema analytics
"""


def _readme_block() -> str:
    page = (Path(__file__).resolve().parents[1] / "docs" / "warehouses.md").read_text()
    assert DOCS_EXAMPLE in page, "docs/warehouses.md's ClickHouse example changed: update DOCS_EXAMPLE here"
    return DOCS_EXAMPLE


@needs_chdb
@pytest.mark.slow
def test_readme_chdb_example_gives_the_duckdb_tables(tmp_path: Path) -> None:
    script = _readme_block()
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "dbt_tracks_flow" in done.stderr
    compare = textwrap.dedent(
        """
        import chdb, duckdb
        con = chdb.connect('ch-data?session_timezone=UTC')
        ch = con.cursor()
        dk = duckdb.connect('journey.duckdb', read_only=True)
        for table, cols in [('dbt_mapped_tracks', 'event_id, dbt_visitor_id, timestamp, idle_time_minutes'),
                            ('dbt_session_tracks', 'session_id, session_start_at, next_session_start_at'),
                            ('dbt_tracks_flow', 'event_id, session_id, track_sequence_number, event_2, event_5')]:
            ch.execute(f'SELECT {cols} FROM analytics.{table} ORDER BY 1')
            a = [tuple(r) for r in ch.fetchall()]
            b = dk.execute(f'SELECT {cols} FROM analytics.{table} ORDER BY 1').fetchall()
            assert len(a) == len(b) > 0, (table, len(a), len(b))
            assert a == b, (table, [x for x in zip(a, b) if x[0] != x[1]][:2])
        print('same')
        """
    )
    same = subprocess.run([sys.executable, "-c", compare], cwd=tmp_path, capture_output=True, text=True)
    assert same.stdout.strip() == "same", same.stderr


# -- the CLI ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("chdb:///no/such/dir/data", "Error: Cannot open chdb directory 'no/such/dir/data'"),
        ("clickhouse://analyst@127.0.0.1:1/db?connect_timeout=2", "Error: Cannot connect to ClickHouse clickhouse://"),
        ("chdb://relative", "Error: chdb connection 'chdb://relative' needs a path"),
    ],
)
def test_cli_errors_are_one_line(url: str, message: str, monkeypatch) -> None:
    from click.testing import CliRunner

    from journey_sql.cli.app import cli

    if url.startswith("clickhouse"):
        pytest.importorskip("clickhouse_connect")
    monkeypatch.setenv("CLICKHOUSE_PASSWORD", "pw-not-shown")
    result = CliRunner().invoke(cli, ["apply", "--connection", url])
    assert result.exit_code != 0
    assert result.output.startswith(message), result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output and "pw-not-shown" not in result.output


def test_render_for_clickhouse_parses_as_create_database_and_one_statement_per_stage() -> None:
    from click.testing import CliRunner

    from journey_sql.cli.app import cli

    result = CliRunner().invoke(cli, ["render", "--dialect", "clickhouse"])
    assert result.exit_code == 0, result.output
    statements = [s for s in sqlglot.parse(result.output, read="clickhouse") if s is not None]
    assert [s.this.name for s in statements] == [
        "analytics",  # CREATE DATABASE IF NOT EXISTS analytics
        "jsql_events",
        "dbt_aliases_mapping",
        "dbt_mapped_tracks",
        "dbt_session_tracks",
        "dbt_track_facts",
        "dbt_tracks_flow",
        "dbt_session_track_facts",
        "dbt_session_duration",
        "dbt_user_session_facts",
        "jsql_state",
    ]
