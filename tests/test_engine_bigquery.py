"""BigQuery: the engine through the CLI against the emulator, and the SQL held to real BigQuery's rules.

The emulator runs our SQL on DuckDB, so it accepts things BigQuery would not.
The first group of tests therefore checks the rendered BigQuery SQL itself
(functions, types, window clauses) without any server; the second runs small
event sets whose expected tables are written out by hand; the last drives the
engine and the CLI against the emulator.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import datetime

import pytest
import sqlglot
from click.testing import CliRunner
from compare import assert_tables_equal
from sqlglot import exp

from journey_sql.cli.app import cli
from journey_sql.compile.plan import compile_plan
from journey_sql.core.stages import PLAN_STAGES, get_stage, stage_columns
from journey_sql.settings.options import Settings

BQ = "bigquery"

# ---------------------------------------------------------------------------
# 1. The rendered SQL obeys BigQuery's rules (no server involved)
# ---------------------------------------------------------------------------

SETTINGS = [Settings.create(), Settings.create(session_timeout=0.75, depth=12, schema="Journeys")]

# GoogleSQL's reserved keywords (cloud.google.com/bigquery/docs/reference/standard-sql/lexical#reserved_keywords):
# an identifier spelled like one must be backtick-quoted. TIMESTAMP is *not* reserved, so the
# column `timestamp` may stay unquoted; we check it is always qualified by a table alias anyway,
# where it can never be read as the start of a TIMESTAMP '...' literal.
BIGQUERY_RESERVED = set(
    """ALL AND ANY ARRAY AS ASC ASSERT_ROWS_MODIFIED AT BETWEEN BY CASE CAST COLLATE CONTAINS CREATE CROSS
    CUBE CURRENT DEFAULT DEFINE DESC DISTINCT ELSE END ENUM ESCAPE EXCEPT EXCLUDE EXISTS EXTRACT FALSE FETCH
    FOLLOWING FOR FROM FULL GROUP GROUPING GROUPS HASH HAVING IF IGNORE IN INNER INTERSECT INTERVAL INTO IS
    JOIN LATERAL LEFT LIKE LIMIT LOOKUP MERGE NATURAL NEW NO NOT NULL NULLS OF ON OR ORDER OUTER OVER
    PARTITION PRECEDING PROTO QUALIFY RANGE RECURSIVE RESPECT RIGHT ROLLUP ROWS SELECT SET SOME STRUCT
    TABLESAMPLE THEN TO TREAT TRUE UNBOUNDED UNION UNNEST USING WHEN WHERE WINDOW WITH WITHIN""".split()
)

# Every function the stages may call on BigQuery, by sqlglot node; each is in GoogleSQL's
# function reference. A new one must be checked there and added here deliberately.
ALLOWED_FUNCTIONS = {
    "Cast",
    "Coalesce",
    "Count",
    "If",
    "Lag",
    "Max",  # MAX(timestamp): an aggregate of GoogleSQL's, any orderable type
    "Min",
    "Lead",
    "RowNumber",
    "Sum",
    "UnixMicros",
    "Case",
}
# Spellings DuckDB (our template dialect) accepts and BigQuery does not, or where it means something else.
DUCKDB_ONLY = re.compile(
    r"\b(EPOCH_US|EPOCH_MS|EPOCH_NS|EPOCH|LIST_VALUE|LIST_\w+|STRFTIME|STRPTIME|REGEXP_MATCHES|DATE_DIFF|"
    r"DATEDIFF|TIMESTAMP_DIFF|DATETIME_DIFF|AGE|TO_TIMESTAMP|STRING_SPLIT|ARG_MIN|ARG_MAX|EPOCH_US)\s*\(|::",
    re.I,
)
# navigation and numbering functions: sqlglot files LAG/LEAD under AggFunc, BigQuery does not
NAVIGATION = (exp.Lag, exp.Lead, exp.RowNumber, exp.FirstValue, exp.LastValue, exp.NthValue)
ALLOWED_TYPES = {"STRING", "INT64", "FLOAT64", "TIMESTAMP", "BOOL", "NUMERIC"}


def _statements(settings: Settings) -> list[tuple[str, str]]:
    from journey_sql.dialects.dialect import get_dialect

    plan = compile_plan(settings, get_dialect(BQ))
    return [(step.name, sql) for step in plan.steps for sql in step.statements]


@pytest.mark.parametrize("settings", SETTINGS, ids=["default", "custom"])
def test_bigquery_sql_uses_only_googlesql_functions_and_types(settings: Settings) -> None:
    for stage, sql in _statements(settings):
        assert not DUCKDB_ONLY.search(sql), f"{stage}: DuckDB-only spelling {DUCKDB_ONLY.search(sql).group(0)!r}"
        tree = sqlglot.parse_one(sql, read=BQ)
        anonymous = sorted({f.name for f in tree.find_all(exp.Anonymous)})
        assert not anonymous, f"{stage}: functions sqlglot does not know as BigQuery functions: {anonymous}"
        funcs = {type(f).__name__ for f in tree.find_all(exp.Func) if not isinstance(f, exp.Connector)}
        assert funcs <= ALLOWED_FUNCTIONS, f"{stage}: unreviewed functions {sorted(funcs - ALLOWED_FUNCTIONS)}"
        types = {d.sql(BQ) for d in tree.find_all(exp.DataType)}
        assert types <= ALLOWED_TYPES, f"{stage}: types BigQuery lacks {sorted(types - ALLOWED_TYPES)}"


def test_bigquery_sql_measures_time_in_unix_micros() -> None:
    sql = dict(_statements(Settings.create()))["dbt_mapped_tracks"]
    # exact elapsed microseconds, not TIMESTAMP_DIFF(..., MINUTE), which truncates to whole minutes
    assert sql.count("UNIX_MICROS(CAST(e.timestamp AS TIMESTAMP))") == 2  # the CAST admits DATETIME sources
    assert "TIMESTAMP_DIFF" not in sql.upper() and "EPOCH" not in sql.upper()


@pytest.mark.parametrize("settings", SETTINGS, ids=["default", "custom"])
def test_bigquery_aggregate_windows_have_no_null_ordering(settings: Settings) -> None:
    """BigQuery rejects NULLS LAST (ascending) / NULLS FIRST (descending) in the ORDER BY of an
    aggregate analytic function's RANGE frame; ROW_NUMBER/LAG/LEAD accept it."""
    seen_aggregate_window = False
    for stage, sql in _statements(settings):
        for window in sqlglot.parse_one(sql, read=BQ).find_all(exp.Window):
            is_aggregate = isinstance(window.this, exp.AggFunc) and not isinstance(window.this, NAVIGATION)
            if is_aggregate and window.args.get("order"):
                seen_aggregate_window = True
                order = window.args["order"].sql(BQ)
                assert "NULLS" not in order.upper(), f"{stage}: {window.sql(BQ)}"
    assert seen_aggregate_window  # dbt_track_facts' running SUM: the check looked at something


@pytest.mark.parametrize("settings", SETTINGS, ids=["default", "custom"])
def test_bigquery_identifiers_need_no_quoting(settings: Settings) -> None:
    for stage, sql in _statements(settings):
        tree = sqlglot.parse_one(sql, read=BQ)
        for ident in tree.find_all(exp.Identifier):
            if not ident.quoted:
                assert ident.name.upper() not in BIGQUERY_RESERVED, f"{stage}: reserved word {ident.name} unquoted"
        for column in tree.find_all(exp.Column):
            if column.name.lower() == "timestamp":
                assert column.table, f"{stage}: bare `timestamp` column in {column.parent.sql(BQ)}"
        # one CREATE OR REPLACE per stage, into dataset.table of the client's project
        assert sql.startswith(f"CREATE OR REPLACE TABLE {settings.schema}.{stage} AS")


# ---------------------------------------------------------------------------
# 2. Hand-computed cases: small event lists, expected tables written by hand
#    from the stated rules (first delivery wins; a user_id is its own visitor; an
#    anonymous_id belongs to the user it was last seen with; a gap strictly
#    longer than the timeout opens a session; flow rows stop at the session end)
# ---------------------------------------------------------------------------


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def row(
    id: str | None, anon: str | None, user: str | None, event: str | None, at: str | None, received: str | None
) -> dict:
    return {
        "id": id,
        "anonymous_id": anon,
        "user_id": user,
        "event": event,
        "timestamp": ts(at) if at else None,
        "received_at": ts(received) if received else None,
    }


CASE_IDENTIFY_THEN_TIMEOUT = {
    "settings": Settings.create(session_timeout=30, depth=3),
    "rows": [
        row("e1", "a1", None, "Page Viewed", "2024-05-01 10:00:00", "2024-05-01 10:00:01"),
        row("e1", "a1", None, "Dup", "2024-05-01 10:00:00", "2024-05-01 10:05:00"),  # later redelivery: dropped
        row("e2", "a1", "u1", "Signed Up", "2024-05-01 10:10:00", "2024-05-01 10:10:00"),
        row("e3", "a1", None, "Page Viewed", "2024-05-01 10:40:00", "2024-05-01 10:40:02"),  # gap == timeout
        row("e3", "a1", None, "Dup", "2024-05-01 10:40:00", None),  # no received_at: loses
        row("e4", None, "u1", "Order Completed", "2024-05-01 11:10:00.000001", "2024-05-01 11:10:01"),  # 1 µs over
        row("e5", None, None, "Nobody", "2024-05-01 11:11:00", "2024-05-01 11:11:00"),  # no identity: left out
        row(None, "a1", None, "No id", "2024-05-01 11:12:00", "2024-05-01 11:12:00"),  # no id: left out
    ],
    "expected": {
        "dbt_aliases_mapping": [("u1", "u1"), ("a1", "u1")],
        "dbt_mapped_tracks": [
            ("e1", "a1", "u1", ts("2024-05-01 10:00:00"), "Page Viewed", None),
            ("e2", "a1", "u1", ts("2024-05-01 10:10:00"), "Signed Up", 10.0),
            ("e3", "a1", "u1", ts("2024-05-01 10:40:00"), "Page Viewed", 30.0),
            ("e4", None, "u1", ts("2024-05-01 11:10:00.000001"), "Order Completed", 30 + 1 / 60_000_000),
        ],
        "dbt_session_tracks": [
            ("1 - u1", "u1", ts("2024-05-01 10:00:00"), 1, ts("2024-05-01 11:10:00.000001")),
            ("2 - u1", "u1", ts("2024-05-01 11:10:00.000001"), 2, None),
        ],
        "dbt_track_facts": [
            ("a1", ts("2024-05-01 10:00:00"), "e1", "Page Viewed", "1 - u1", "u1", 1),
            ("a1", ts("2024-05-01 10:10:00"), "e2", "Signed Up", "1 - u1", "u1", 2),
            ("a1", ts("2024-05-01 10:40:00"), "e3", "Page Viewed", "1 - u1", "u1", 3),
            (None, ts("2024-05-01 11:10:00.000001"), "e4", "Order Completed", "2 - u1", "u1", 1),
        ],
        "dbt_tracks_flow": [
            ("e1", "1 - u1", 1, "Page Viewed", "u1", ts("2024-05-01 10:00:00"), "Signed Up", "Page Viewed"),
            ("e2", "1 - u1", 2, "Signed Up", "u1", ts("2024-05-01 10:10:00"), "Page Viewed", None),
            ("e3", "1 - u1", 3, "Page Viewed", "u1", ts("2024-05-01 10:40:00"), None, None),
            ("e4", "2 - u1", 1, "Order Completed", "u1", ts("2024-05-01 11:10:00.000001"), None, None),
        ],
    },
}

CASE_SHARED_DEVICE_AND_TIES = {
    "settings": Settings.create(session_timeout=5, depth=2),
    "rows": [
        row("f1", "x", "A", "a", "2024-05-02 09:00:00", "2024-05-02 09:00:00"),
        row("f2", "x", "B", "b", "2024-05-02 09:05:00", "2024-05-02 09:05:00"),  # x last seen with B
        row("f3", "x", None, "c", "2024-05-02 09:05:00", "2024-05-02 09:05:00"),  # tie: id breaks it
        row("f4", "A", None, "d", "2024-05-02 09:06:00", "2024-05-02 09:06:00"),  # "A" is a user_id: stays A
    ],
    "expected": {
        "dbt_aliases_mapping": [("A", "A"), ("B", "B"), ("x", "B")],
        "dbt_mapped_tracks": [
            ("f1", "x", "A", ts("2024-05-02 09:00:00"), "a", None),
            ("f2", "x", "B", ts("2024-05-02 09:05:00"), "b", None),
            ("f3", "x", "B", ts("2024-05-02 09:05:00"), "c", 0.0),
            ("f4", "A", "A", ts("2024-05-02 09:06:00"), "d", 6.0),
        ],
        "dbt_session_tracks": [
            ("1 - A", "A", ts("2024-05-02 09:00:00"), 1, ts("2024-05-02 09:06:00")),
            ("2 - A", "A", ts("2024-05-02 09:06:00"), 2, None),
            ("1 - B", "B", ts("2024-05-02 09:05:00"), 1, None),
        ],
        "dbt_track_facts": [
            ("x", ts("2024-05-02 09:00:00"), "f1", "a", "1 - A", "A", 1),
            ("A", ts("2024-05-02 09:06:00"), "f4", "d", "2 - A", "A", 1),
            ("x", ts("2024-05-02 09:05:00"), "f2", "b", "1 - B", "B", 1),
            ("x", ts("2024-05-02 09:05:00"), "f3", "c", "1 - B", "B", 2),
        ],
        "dbt_tracks_flow": [
            ("f1", "1 - A", 1, "a", "A", ts("2024-05-02 09:00:00"), None),
            ("f4", "2 - A", 1, "d", "A", ts("2024-05-02 09:06:00"), None),
            ("f2", "1 - B", 1, "b", "B", ts("2024-05-02 09:05:00"), "c"),
            ("f3", "1 - B", 2, "c", "B", ts("2024-05-02 09:05:00"), None),
        ],
    },
}

HAND_CASES = {
    "identify_then_timeout": CASE_IDENTIFY_THEN_TIMEOUT,
    "shared_device_and_ties": CASE_SHARED_DEVICE_AND_TIES,
}


def assert_tables(got: dict[str, list[tuple]], expected: dict[str, list[tuple]], where: str) -> None:
    # exact to the last bit that matters: 1 µs in 30 minutes is 1.7e-8 minutes
    assert_tables_equal(got, expected, where, float_tolerance=1e-12)


@pytest.fixture(scope="module")
def bq():
    from engines.bigquery import bigquery_session

    with bigquery_session() as harness:
        yield harness


@pytest.mark.parametrize("case", HAND_CASES, ids=list(HAND_CASES))
def test_hand_computed_case_on_duckdb(duckdb_harness, case: str) -> None:
    """The same expectations on the embedded engine: a wrong hand computation shows up here too."""
    spec = HAND_CASES[case]
    duckdb_harness.load(spec["rows"])
    duckdb_harness.run(spec["settings"])
    assert_tables(duckdb_harness.fetch(spec["settings"]), spec["expected"], f"duckdb {case}")


@pytest.mark.parametrize("case", HAND_CASES, ids=list(HAND_CASES))
def test_hand_computed_case_on_bigquery(bq, case: str) -> None:
    spec = HAND_CASES[case]
    bq.load(spec["rows"])
    report = bq.run(spec["settings"])
    assert_tables(bq.fetch(spec["settings"]), spec["expected"], f"bigquery {case}")
    assert report.events == len(spec["expected"]["dbt_mapped_tracks"])


# ---------------------------------------------------------------------------
# 3. The engine and the CLI against the emulator
# ---------------------------------------------------------------------------


@pytest.fixture
def cli_env(bq, monkeypatch: pytest.MonkeyPatch, tmp_path) -> dict[str, str]:
    from journey_sql.engines.bigquery import ENDPOINT_ENV

    monkeypatch.chdir(tmp_path)  # no journey-sql.toml from the checkout
    return {ENDPOINT_ENV: bq.endpoint}


def _apply(env: dict[str, str], *args: str):
    return CliRunner().invoke(cli, ["apply", "--connection", "bigquery://test?location=US", *args], env=env)


def test_cli_apply_builds_five_tables_in_a_us_dataset(bq, cli_env) -> None:
    bq.load(CASE_IDENTIFY_THEN_TIMEOUT["rows"])
    result = _apply(cli_env, "--schema", "journeys_cli", "--depth", "3")
    assert result.exit_code == 0, result.output
    client = bq.client
    assert client.get_dataset("test.journeys_cli").location == "US"
    tables = sorted(t.table_id for t in client.list_tables("test.journeys_cli"))
    assert tables == sorted(s.name for s in PLAN_STAGES)  # and no staging table left behind
    flow = client.get_table("test.journeys_cli.dbt_tracks_flow")
    assert [f.name for f in flow.schema] == list(stage_columns(get_stage("dbt_tracks_flow"), 3))
    assert "4 events placed in journeys_cli" in result.output


def test_rerun_replaces_tables_whether_or_not_their_columns_change(bq, cli_env) -> None:
    """Same --depth: the copy-job path; another --depth: the flow table's columns change."""
    bq.load(CASE_SHARED_DEVICE_AND_TIES["rows"])
    for depth in (2, 2, 4):
        result = _apply(cli_env, "--schema", "journeys_rerun", "--session-timeout", "5", "--depth", str(depth))
        assert result.exit_code == 0, result.output
        s = Settings.create(schema="journeys_rerun", session_timeout=5, depth=depth)
        got = bq.fetch(s)
        assert len(got["dbt_tracks_flow"]) == 4 and len(got["dbt_tracks_flow"][0]) == 5 + depth
    assert sorted(t.table_id for t in bq.client.list_tables("test.journeys_rerun")) == sorted(
        s.name for s in PLAN_STAGES
    )


def test_missing_source_dataset_names_the_datasets(bq, cli_env) -> None:
    bq.load(CASE_SHARED_DEVICE_AND_TIES["rows"])
    result = _apply(cli_env, "--source-schema", "rudderstack_prod")
    assert result.exit_code != 0
    assert "Schema rudderstack_prod does not exist" in result.output
    assert "rudder" in result.output.split("schemas here:")[1]


def test_missing_source_table_names_the_tables(bq, cli_env) -> None:
    bq.load(CASE_SHARED_DEVICE_AND_TIES["rows"])
    result = _apply(cli_env, "--source-table", "track")
    assert result.exit_code != 0
    assert "Tables in rudder: tracks" in result.output


def test_dry_run_reports_bytes_and_unknown_inputs(bq) -> None:
    from journey_sql.core.errors import JourneyError

    bq.load(CASE_SHARED_DEVICE_AND_TIES["rows"])
    engine = bq.engine
    assert isinstance(engine.dry_run("SELECT id, `timestamp` FROM rudder.tracks"), int)  # the emulator says 0
    assert engine.dry_run("SELECT * FROM rudder.not_built_yet") is None
    with pytest.raises(JourneyError, match="dry run failed"):
        engine.dry_run("SELEC 1")
    # a dry run creates nothing
    engine.dry_run("CREATE OR REPLACE TABLE rudder.dry AS SELECT 1 AS a")
    assert engine.columns("rudder", "dry") is None


def test_create_schema_refuses_a_dataset_in_another_region(bq) -> None:
    from google.cloud import bigquery

    from journey_sql.core.errors import ConfigError

    dataset = bigquery.Dataset("test.eu_journeys")
    dataset.location = "EU"
    bq.client.create_dataset(dataset, exists_ok=True)
    with pytest.raises(ConfigError, match="already exists in EU"):
        bq.engine.create_schema("eu_journeys")


def test_catalog_reports_bigquery_types(bq) -> None:
    bq.load(CASE_SHARED_DEVICE_AND_TIES["rows"])
    columns = bq.engine.columns("rudder", "tracks")
    assert columns["timestamp"] == "TIMESTAMP" and columns["id"] == "STRING"
    assert "context_library_name" in columns
    assert bq.engine.columns("rudder", "nope") is None
    assert bq.engine.columns("no_such_dataset", "tracks") is None
    assert bq.engine.tables("no_such_dataset") == []
    assert "rudder" in bq.engine.schemas()


# -- no emulator needed --------------------------------------------------------


def test_missing_driver_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "google.cloud.bigquery", None)  # import fails as if not installed
    result = CliRunner().invoke(cli, ["apply", "--connection", "bigquery://my-project?location=US"])
    assert result.exit_code != 0
    assert "pip install 'journey-sql[bigquery]'" in result.output


def test_unknown_url_parameter_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("google.cloud.bigquery")
    from journey_sql.core.errors import ConfigError
    from journey_sql.engines.connection import connect

    with pytest.raises(ConfigError, match="Did you mean 'location'"):
        connect("bigquery://my-project?locaton=US")


def test_no_credentials_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    pytest.importorskip("google.cloud.bigquery")
    from journey_sql.core.errors import ConnectionError_
    from journey_sql.engines.bigquery import ENDPOINT_ENV
    from journey_sql.engines.connection import connect

    monkeypatch.delenv(ENDPOINT_ENV, raising=False)
    monkeypatch.delenv("JOURNEY_SQL_KEYFILE", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    with pytest.raises(ConnectionError_, match="No Google credentials found"):
        connect("bigquery://my-project?location=US")


def test_bad_key_file_error_never_shows_the_key(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    pytest.importorskip("google.cloud.bigquery")
    from journey_sql.core.errors import ConnectionError_
    from journey_sql.engines.bigquery import ENDPOINT_ENV
    from journey_sql.engines.connection import connect

    monkeypatch.delenv(ENDPOINT_ENV, raising=False)
    key = tmp_path / "sa.json"
    # a key whose private part is present but whose client_email is missing
    key.write_text(json.dumps({"type": "service_account", "private_key": "SECRET-KEY-MATERIAL", "token_uri": "x"}))
    with pytest.raises(ConnectionError_) as err:
        connect(f"bigquery://my-project?location=US&keyfile={key}")
    assert "SECRET-KEY-MATERIAL" not in str(err.value)
    assert "not a service-account JSON key" in str(err.value)
    with pytest.raises(ConnectionError_, match="does not exist"):
        connect(f"bigquery://my-project?keyfile={tmp_path / 'nope.json'}")


def test_cli_dry_run_reports_bytes_per_stage_and_builds_nothing(bq, cli_env) -> None:
    """--dry-run goes through the client's dry-run job for every stage it can estimate."""
    bq.load(CASE_IDENTIFY_THEN_TIMEOUT["rows"])
    result = _apply(cli_env, "--schema", "dry_run_only", "--dry-run")
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0] == "full build"  # nothing was built in dry_run_only yet
    # the events step is the one read of the source; every stage reads the events table
    assert lines[1].startswith("jsql_events") and lines[1].endswith("bytes")
    assert all("unknown until its inputs exist" in line for line in lines[2:-1])
    assert lines[-1].startswith("total")
    assert "dry_run_only" not in {d.dataset_id for d in bq.client.list_datasets()}


def test_cli_dry_run_after_a_build_estimates_the_incremental_run(bq, cli_env) -> None:
    """With a build in place, --dry-run estimates the incremental run apply would do (the emulator says 0 bytes)."""
    bq.load(CASE_IDENTIFY_THEN_TIMEOUT["rows"])
    assert _apply(cli_env, "--schema", "dry_inc").exit_code == 0
    result = _apply(cli_env, "--schema", "dry_inc", "--dry-run")
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0] == "incremental build"
    # the one step that reads the source can be estimated; the others read work tables made during the run
    assert lines[1].startswith("jsql_new_rows") and lines[1].endswith("bytes")
    assert "unknown until its inputs exist" in lines[2]
    full = _apply(cli_env, "--schema", "dry_inc", "--dry-run", "--full-refresh")
    assert full.output.splitlines()[0] == "full build"
