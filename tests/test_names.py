"""Names: each works on its target exactly as written, or is rejected with the reason before any SQL runs.

The fuzz draws names from word lists journey_sql does not use: sqlglot's
tokenizer keywords per dialect, the keywords DuckDB and PostgreSQL report
about themselves (live), the words the issue found, plain identifiers, and
arbitrary text (control characters, empty, too long).
"""

from __future__ import annotations

import contextlib
import itertools
from collections import Counter

import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect as SqlglotDialect
from strategies import examples

from journey_sql.compile.script import render_script
from journey_sql.compile.templates import check_names
from journey_sql.core.errors import ConfigError, JourneyError
from journey_sql.dialects.dialect import DIALECTS, get_dialect
from journey_sql.settings.options import Settings

ISSUE_WORDS = ["select", "group", "user", "order", "qualify", "join", "cross", "in", "information_schema", "pg_catalog"]
SYSTEM = ["information_schema", "INFORMATION_SCHEMA", "pg_catalog", "pg_toast", "pg_temp_1", "global_temp", "temp"]


def _sqlglot_keywords() -> list[str]:
    words: set[str] = set()
    for name in DIALECTS:
        tokenizer = SqlglotDialect.get_or_raise(DIALECTS[name].sqlglot_name).tokenizer_class
        words |= {k.lower() for k in tokenizer.KEYWORDS if k.replace("_", "").isalpha() and " " not in k}
    return sorted(words)


KEYWORDS = _sqlglot_keywords()


def _duckdb_keywords() -> list[str]:
    import duckdb

    with duckdb.connect() as con:
        return [r[0] for r in con.execute("SELECT keyword_name FROM duckdb_keywords() ORDER BY 1").fetchall()]


def name_strategy(extra: list[str] | None = None) -> st.SearchStrategy[str]:
    words = sorted(set(KEYWORDS) | set(ISSUE_WORDS) | set(extra or []))
    plain = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True)
    return st.one_of(
        st.sampled_from(words),
        st.sampled_from(words).map(str.upper),
        st.sampled_from(SYSTEM),
        plain,
        st.sampled_from(["", " ", "tracks\n", "a\tb", "x;DROP", "a-b", "é", "1abc", "a" * 63, "a" * 64, "b" * 300]),
        st.text(max_size=8),
    )


RENDER_OUTCOMES: Counter[tuple[str, str]] = Counter()


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
@given(source_schema=name_strategy(), source_table=name_strategy(), schema=name_strategy())
@settings(max_examples=examples(150), suppress_health_check=[HealthCheck.too_slow])
def test_every_name_render_accepts_parses_back(
    dialect: str, source_schema: str, source_table: str, schema: str
) -> None:
    """Either a one-line ConfigError, or a script whose every statement parses back naming the tables as written."""
    try:
        s = Settings.create(source_schema=source_schema, source_table=source_table, schema=schema)
        script = render_script(s, dialect, ["jsql_events", "dbt_aliases_mapping"])
    except ConfigError as err:
        assert "\n" not in str(err)
        RENDER_OUTCOMES[(dialect, "rejected")] += 1
        return
    RENDER_OUTCOMES[(dialect, "accepted")] += 1
    header, first = script.splitlines()[:2]
    assert header.startswith("-- journey-sql ") and first in ("", "BEGIN;")  # no user text escapes the comment
    read = get_dialect(dialect).sqlglot_name
    statements = [t for t in sqlglot.parse(script, read=read, error_level=sqlglot.ErrorLevel.RAISE) if t is not None]
    assert not any(isinstance(t, exp.Command) for t in statements), script
    tables = {(t.db, t.name) for tree in statements for t in tree.find_all(exp.Table) if t.db}
    assert (source_schema, source_table) in tables
    assert (schema, "dbt_aliases_mapping") in tables and (schema, "jsql_events") in tables
    assert all(not i.quoted for tree in statements for t in tree.find_all(exp.Table) for i in t.parts)


@pytest.mark.parametrize(
    ("dialect", "name"),
    [(d, w) for d in ("duckdb", "postgres") for w in ("select", "group", "order", "join", "cross", "in")]
    + [("postgres", "user")]  # not reserved in DuckDB
    + [(d, "qualify") for d in DIALECTS],
)
def test_issue_reserved_words_are_rejected(dialect: str, name: str) -> None:
    with pytest.raises(ConfigError, match="--schema"):
        render_script(Settings.create(schema=name), dialect)


@pytest.mark.parametrize("value", ["", "tracks\n", "a\tb", "a\x00"])
def test_empty_and_control_characters_are_rejected(value: str) -> None:
    with pytest.raises(ConfigError):
        Settings.create(source_table=value)


def test_postgres_length_limit_is_63_bytes() -> None:
    render_script(Settings.create(schema="a" * 63), "postgres")
    with pytest.raises(ConfigError, match="at most 63"):
        render_script(Settings.create(schema="a" * 64), "postgres")
    render_script(Settings.create(schema="a" * 64), "snowflake")


@pytest.mark.parametrize(
    ("dialect", "schema"),
    [("postgres", "pg_catalog"), ("postgres", "information_schema"), ("redshift", "pg_internal"),
     ("snowflake", "INFORMATION_SCHEMA"), ("bigquery", "information_schema"), ("spark", "global_temp"),
     ("duckdb", "pg_catalog")],
)  # fmt: skip
def test_system_schemas_are_rejected_as_output(dialect: str, schema: str) -> None:
    with pytest.raises(ConfigError, match="system schema|reserved"):
        render_script(Settings.create(schema=schema), dialect)


# -- apply on real engines ----------------------------------------------------------------------------------

ROWS = [
    {"id": f"e{i}", "anonymous_id": "a1", "user_id": None if i < 2 else "u1", "event": "Page Viewed",
     "timestamp": __import__("datetime").datetime(2026, 1, 1, 12, i), "received_at": None}
    for i in range(4)
]  # fmt: skip

APPLY_OUTCOMES: Counter[tuple[str, str]] = Counter()
_seq = itertools.count()


def _apply_one(harness, folded, source_schema: str, source_table: str, schema: str) -> None:
    """Run apply's library path; the only acceptable failures are one-line JourneyErrors before any SQL."""
    try:
        s = Settings.create(source_schema=source_schema, source_table=source_table, schema=schema)
    except ConfigError:
        APPLY_OUTCOMES[("apply:" + harness.name, "rejected")] += 1
        return
    try:
        check_names(s, harness.engine.dialect)
    except ConfigError as err:
        # rejected before any SQL: run_pipeline must say so too, and not touch the engine
        with pytest.raises(ConfigError) as raised:
            harness.run(s)
        assert "\n" not in str(raised.value) and str(raised.value) == str(err)
        APPLY_OUTCOMES[("apply:" + harness.name, "rejected")] += 1
        return

    def q(n: str) -> str:  # the fixture creates the name as the engine folds it
        return '"' + folded(n) + '"'

    existing = {r[0] for r in harness.engine.query("SELECT schema_name FROM information_schema.schemata")}
    try:
        harness.load(ROWS, schema=q(source_schema), table=q(source_table))
        loaded = True
    except Exception:  # noqa: BLE001 -- e.g. a table in pg_catalog: the engine refuses it, so the source cannot exist
        loaded = False
    try:
        report = harness.run(s)
    except JourneyError as err:  # the source is missing, or --schema would overwrite it
        assert "\n" not in str(err)
        APPLY_OUTCOMES[("apply:" + harness.name, "journey_error")] += 1
        assert not loaded or folded(schema) == folded(source_schema), err
        return
    finally:
        for name in {folded(source_schema), folded(schema)} - existing:  # only what this example created
            with contextlib.suppress(Exception):
                harness.engine.execute(f"DROP SCHEMA IF EXISTS {q(name)} CASCADE")
    assert loaded and report.events == 4
    APPLY_OUTCOMES[("apply:" + harness.name, "built")] += 1


@pytest.fixture(scope="module")
def duckdb_apply():
    from harness import DuckDBHarness

    h = DuckDBHarness()
    yield h
    h.close()


@given(data=st.data())
@settings(max_examples=examples(40))
def test_apply_on_duckdb_builds_or_rejects_every_name(duckdb_apply, data) -> None:
    names = name_strategy(_DUCKDB_WORDS)
    _apply_one(duckdb_apply, str.lower, data.draw(names), data.draw(names), data.draw(names))


_DUCKDB_WORDS = _duckdb_keywords()


@pytest.fixture(scope="module")
def postgres_apply():
    from engines.pg import PostgresHarness, postgres_engine, shared_cluster

    cluster = shared_cluster()
    h = PostgresHarness(postgres_engine(cluster.database("jsql_names", fresh=True), cluster))
    words = [r[0] for r in h.engine.query("SELECT word FROM pg_get_keywords()")]
    yield h, words
    h.close()


@given(data=st.data())
@settings(max_examples=examples(30))
def test_apply_on_postgres_builds_or_rejects_every_name(postgres_apply, data) -> None:
    harness, words = postgres_apply
    names = name_strategy(words)
    _apply_one(harness, str.lower, data.draw(names), data.draw(names), data.draw(names))


def test_zz_report_name_outcomes() -> None:
    """Not a check: prints how the fuzz ended (pytest -s) for the issue's closing note."""
    for key, n in sorted({**RENDER_OUTCOMES, **APPLY_OUTCOMES}.items()):
        print(f"names fuzz {key[0]:<10} {key[1]:<14} {n}")


@pytest.mark.parametrize(
    "args",
    [
        ["render", "--dialect", "postgres", "--schema", "select"],
        ["render", "--schema", ""],
        ["render", "--source-table", "tracks\n"],
        ["render", "--dialect", "postgres", "--schema", "pg_catalog"],
        ["apply", "--connection", "duckdb:///:memory:", "--schema", "group"],
        ["apply", "--connection", "duckdb:///:memory:", "--schema", "qualify"],
    ],
)
def test_cli_rejects_a_name_in_one_line_without_a_traceback(args: list[str], tmp_path, monkeypatch) -> None:
    from click.testing import CliRunner

    from journey_sql.cli.app import cli

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert result.stdout == "" or not result.stdout.strip()  # no SQL printed
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: --"), result.output
