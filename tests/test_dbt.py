"""`journey-sql dbt`: the project it writes, built, tested, documented and continued by the real dbt.

Every table dbt builds is compared with the plain-Python reference, after full builds and after each run
of incremental histories (the same strategies as test_incremental), on DuckDB and PostgreSQL through
dbt-duckdb and dbt-postgres. dbt runs in its own venv (tests/dbt_runner.py says why and how).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from compare import assert_matches_reference
from dbt_runner import Dbt, start_dbt, write_profiles
from harness import DuckDBHarness, EngineHarness
from hypothesis import given, settings
from reference import compute
from strategies import examples, incremental_history, lookback_violations, pipeline_case

from journey_sql import __version__
from journey_sql.cli.app import cli
from journey_sql.core.stages import PLAN_STAGES, STAGES, stage_columns
from journey_sql.dbt.project import render_files, write_project
from journey_sql.dialects.dialect import get_dialect
from journey_sql.settings.options import Settings

GOLDEN = Path(__file__).parent / "golden" / "dbt"
# an event name holding Jinja's delimiters, a quote and non-ASCII: it must reach the SQL as text
NASTY = "it's {{ Ärger }} {% raw %}"
COUNTED = ("Page Viewed", NASTY)
# (full builds, incremental histories, most batches per history): the suite's time budget
STAGE = {stage.name: stage for stage in PLAN_STAGES}
BUDGET = {"duckdb": (4, 3, 4), "postgres": (2, 2, 3)}


def nasty(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The strategies' rows with one event renamed to NASTY (so its count column counts something)."""
    return [{**r, "event": NASTY} if r["event"] == "Order Completed" else r for r in rows]


def settings_for(timeout: float = 30, depth: int = 5, lookback_seconds: float = 86400, **kw: Any) -> Settings:
    return Settings.create(
        session_timeout=timeout, depth=depth, count_events=COUNTED, lookback=f"{lookback_seconds:g}s", **kw
    )


# -- targets: where dbt builds, and how the tests load and read it --------------------------------


class DuckDBTarget:
    """A DuckDB file: the tests open it only between dbt commands (DuckDB locks the file)."""

    name = "duckdb"

    def __init__(self, folder: Path) -> None:
        self.path = folder / "dbt.duckdb"
        # four threads: dbt runs independent models at once, so the project's DAG must order every step
        self.output: dict[str, Any] = {"type": "duckdb", "path": str(self.path), "schema": "analytics", "threads": 4}
        self.env: dict[str, str] = {}

    @contextlib.contextmanager
    def harness(self) -> Iterator[EngineHarness]:
        import duckdb

        from journey_sql.engines.connection import connect

        if not self.path.exists():
            duckdb.connect(str(self.path)).close()
        h = DuckDBHarness.__new__(DuckDBHarness)
        EngineHarness.__init__(h, connect(f"duckdb:///{self.path}", threads=1))
        try:
            yield h
        finally:
            h.close()

    def reset(self) -> None:
        for path in (self.path, self.path.with_name(self.path.name + ".wal")):
            path.unlink(missing_ok=True)

    def sql(self, statement: str) -> None:
        with self.harness() as h:
            h.engine.execute(statement)


class PostgresTarget:
    name = "postgres"
    DATABASE = "jsql_dbt"

    def __init__(self, folder: Path) -> None:
        from engines.pg import PostgresHarness, postgres_engine, shared_cluster

        cluster = shared_cluster()
        self.h = PostgresHarness(postgres_engine(self.DATABASE, cluster))
        self.output = {
            "type": "postgres",
            "host": cluster.host,
            "port": cluster.port,
            "user": cluster.user,
            "password": "{{ env_var('JSQL_TEST_PG_PASSWORD') }}",
            "dbname": self.DATABASE,
            "schema": "analytics",
        }
        self.env = {"JSQL_TEST_PG_PASSWORD": cluster.password}

    @contextlib.contextmanager
    def harness(self) -> Iterator[EngineHarness]:
        yield self.h

    def reset(self) -> None:
        for schema in ("analytics", "analytics_journey"):
            self.h.engine.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")

    def sql(self, statement: str) -> None:
        self.h.engine.execute(statement)

    def close(self) -> None:
        self.h.close()


class Builds:
    """One target, its profiles.yml, and a generated project per settings (dbt parses each once)."""

    def __init__(self, dbt: Dbt, target: Any, folder: Path) -> None:
        self.dbt, self.target, self.folder = dbt, target, folder
        self.profiles = write_profiles(folder / "profiles", target.output)
        self.projects: dict[tuple, Path] = {}

    def project(self, s: Settings, **kw: Any) -> Path:
        key = (s.session_timeout, s.depth, s.lookback_seconds, s.count_events, tuple(sorted(kw.items())))
        if key not in self.projects:
            out = self.folder / f"project{len(self.projects)}"
            write_project(s, self.target.name, out, **kw)
            self.projects[key] = out
        return self.projects[key]

    def __call__(self, command: str, s: Settings, *args: str, ok: bool = True) -> dict[str, Any]:
        project = self.project(s)
        return self.dbt(
            *command.split(), "--project-dir", str(project), "--profiles-dir", str(self.profiles), *args,
            env=self.target.env, ok=ok,
        )  # fmt: skip

    def load(self, rows: list[dict[str, Any]]) -> None:
        with self.target.harness() as h:
            h.load(rows)

    def fetch(self, s: Settings) -> dict[str, list[tuple]]:
        with self.target.harness() as h:
            return h.fetch(s)


@pytest.fixture(scope="module")
def dbt() -> Iterator[Dbt]:
    d = start_dbt()
    yield d
    d.close()


@pytest.fixture(scope="module", params=sorted(BUDGET))
def builds(request: pytest.FixtureRequest, dbt: Dbt, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Builds]:
    folder = tmp_path_factory.mktemp(f"dbt-{request.param}")
    target = DuckDBTarget(folder) if request.param == "duckdb" else PostgresTarget(folder)
    yield Builds(dbt, target, folder)
    if hasattr(target, "close"):
        target.close()


@pytest.fixture
def duck(dbt: Dbt, tmp_path: Path) -> Builds:
    return Builds(dbt, DuckDBTarget(tmp_path), tmp_path)


def mode(answer: dict[str, Any]) -> str:
    """What jsql_events said it did: 'full build' or 'incremental build'."""
    said = [m for m in answer["messages"] if m.startswith("journey_sql jsql_events: ")]
    assert len(said) == 1, answer["text"][-2000:]
    return said[0].removeprefix("journey_sql jsql_events: ").split(":")[0]


# -- the tables, against the reference -------------------------------------------------------------


def test_dbt_full_builds_equal_the_reference(builds: Builds) -> None:
    full_budget = examples(BUDGET[builds.target.name][0])

    @given(pipeline_case())
    @settings(max_examples=full_budget)
    def check(case: tuple[float, int, list[dict]]) -> None:
        timeout, depth, rows = case
        rows = nasty(rows)
        s = settings_for(timeout, depth)
        builds.target.reset()
        builds.load(rows)
        answer = builds("build", s)  # the tables, and every data test the project declares on them
        assert mode(answer) == "full build"
        assert sum(n["status"] == "pass" for n in answer["nodes"]) >= 60, answer["nodes"]
        expected = compute(rows, timeout, depth, COUNTED)
        assert_matches_reference(builds.fetch(s), expected, f"dbt {builds.target.name} timeout={timeout} depth={depth}")

    check()


def test_dbt_runs_continue_incrementally_and_equal_the_reference(builds: Builds) -> None:
    _, histories, most_batches = BUDGET[builds.target.name]

    @given(incremental_history(max_batches=most_batches))
    @settings(max_examples=examples(histories))
    def check(history: tuple[float, int, int, list[list[dict]]]) -> None:
        timeout, depth, lookback_seconds, batches = history
        assert not lookback_violations(batches, lookback_seconds)
        s = settings_for(timeout, depth, lookback_seconds)
        builds.target.reset()
        so_far: list[dict] = []
        for k, batch in enumerate(batches):
            so_far = so_far + nasty(batch)
            builds.load(so_far)
            answer = builds("run", s)
            where = f"dbt {builds.target.name} timeout={timeout} depth={depth} batch {k + 1}/{len(batches)}"
            assert mode(answer) == ("full build" if k == 0 else "incremental build"), where
            if k:
                continued = [
                    m for m in answer["messages"] if m.endswith("replacing the rows of the visitors this run rebuilds")
                ]
                assert len(continued) == len(PLAN_STAGES) - 2, where  # all but jsql_events and jsql_state
            expected = compute(so_far, timeout, depth, COUNTED)
            assert_matches_reference(builds.fetch(s), expected, where)

    check()


def test_full_refresh_flag_and_a_run_cut_short_rebuild(duck: Builds, demo_rows: list[dict]) -> None:
    s = settings_for()
    half = sorted(demo_rows, key=lambda r: r["received_at"])[: len(demo_rows) // 2]
    duck.load(half)
    assert mode(duck("run", s)) == "full build"
    assert mode(duck("run", s, "--full-refresh")) == "full build"
    # a run that stops after jsql_events (here: only it is selected) leaves no state: the next run rebuilds
    duck.load(demo_rows)
    assert mode(duck("run", s, "--select", "jsql_events")) == "incremental build"
    answer = duck("run", s)
    assert mode(answer) == "full build" and "is missing" in answer["text"], answer["text"][-1500:]
    assert_matches_reference(duck.fetch(s), compute(demo_rows, 30, 5, COUNTED), "after a run cut short")
    # rows deleted from the source: only a full refresh is right, and the run says so
    duck.load(half)
    answer = duck("run", s)
    assert mode(answer) == "full build" and "fewer than the" in answer["text"]
    assert_matches_reference(duck.fetch(s), compute(half, 30, 5, COUNTED), "after rows were deleted")


# -- dbt's own tests, docs and lineage --------------------------------------------------------------


def test_dbt_build_tests_pass_and_catch_broken_tables(duck: Builds, demo_rows: list[dict]) -> None:
    s = settings_for()
    duck.load(demo_rows)
    answer = duck("build", s)
    tests = [n for n in answer["nodes"] if n["status"] == "pass"]
    assert len(tests) >= 60, answer["nodes"]
    lineage = duck("ls", s, "--resource-type", "model", "--select", "+dbt_tracks_flow", "--output", "name")["output"]
    assert sorted(lineage) == sorted(
        ["jsql_events", "dbt_aliases_mapping", "dbt_mapped_tracks", "dbt_track_facts", "dbt_tracks_flow"]
    )
    # break one promise of each kind of test: an event counted twice, a fact pointing at no session, a
    # reason for leaving a row out that the contract does not know, a negative duration, a missing visitor
    for statement in (
        "INSERT INTO analytics.dbt_track_facts SELECT * FROM analytics.dbt_track_facts LIMIT 1",
        "UPDATE analytics.dbt_track_facts SET session_id = 'nowhere' "
        "WHERE event_id = (SELECT max(event_id) FROM analytics.dbt_track_facts)",
        "UPDATE analytics.jsql_events SET left_out = 'bogus' WHERE id = (SELECT min(id) FROM analytics.jsql_events)",
        "UPDATE analytics.dbt_session_duration SET session_duration = -1 "
        "WHERE session_id = (SELECT min(session_id) FROM analytics.dbt_session_duration)",
        "UPDATE analytics.dbt_user_session_facts SET number_of_sessions = NULL "
        "WHERE dbt_visitor_id = (SELECT min(dbt_visitor_id) FROM analytics.dbt_user_session_facts)",
    ):
        duck.target.sql(statement)
    answer = duck("test", s, ok=False)
    failed = {n["name"] for n in answer["nodes"] if n["status"] == "fail"}
    for expected in (
        "unique_dbt_track_facts_event_id",
        "relationships_dbt_track_facts_session_id",
        "accepted_values_jsql_events_left_out",
        "journey_sql_at_least_dbt_session_duration_session_duration",
        "not_null_dbt_user_session_facts_number_of_sessions",
    ):
        assert any(n.startswith(expected) for n in failed), (expected, failed)
    assert len(failed) <= 8, failed  # the other tables still pass


def test_dbt_docs_describe_every_column(duck: Builds, demo_rows: list[dict]) -> None:
    s = settings_for()
    duck.load(demo_rows)
    duck("run", s)
    duck("docs generate", s)
    target = duck.project(s) / "target"
    catalog = json.loads((target / "catalog.json").read_text())["nodes"]
    manifest = json.loads((target / "manifest.json").read_text())["nodes"]
    assert {n.split(".")[-1] for n in catalog} == {stage.name for stage in PLAN_STAGES}
    for node, entry in catalog.items():
        documented = manifest[node]["columns"]
        assert manifest[node]["description"], node
        for column in entry["columns"]:
            assert documented.get(column, {}).get("description"), f"{node}.{column} has no description"
    # the count column of the nasty name is documented by its event's name
    assert any(
        NASTY in c["description"] for c in manifest["model.journey_sql.dbt_session_track_facts"]["columns"].values()
    )


def test_a_var_that_disagrees_with_the_compiled_sql_stops_the_run(duck: Builds) -> None:
    s = settings_for()
    duck.load([])
    answer = duck("run", s, "--vars", "{journey_sql_depth: 7}", ok=False)
    assert "var journey_sql_depth is 7, but this project's SQL was compiled for 5" in answer["text"], answer["text"]
    assert "regenerate the project" in answer["text"]


def test_installed_as_a_package_with_a_custom_schema(dbt: Dbt, tmp_path: Path, demo_rows: list[dict]) -> None:
    """From the user's own project: `packages: [{local: DIR}]`, dbt deps, a model of theirs reading ours;
    --schema journey is a dbt custom schema (analytics_journey under dbt's generate_schema_name)."""
    target = DuckDBTarget(tmp_path)
    s = settings_for()
    write_project(s, "duckdb", tmp_path / "journey", custom_schema="journey")
    root = tmp_path / "mine"
    (root / "models").mkdir(parents=True)
    project: dict[str, Any] = {"name": "mine", "version": "1.0", "config-version": 2, "profile": "journey_sql"}
    (root / "dbt_project.yml").write_text(yaml.safe_dump(project))
    (root / "packages.yml").write_text(yaml.safe_dump({"packages": [{"local": str(tmp_path / "journey")}]}))
    (root / "models" / "visitors.sql").write_text(
        "select count(distinct dbt_visitor_id) as visitors from {{ ref('dbt_track_facts') }}\n"
    )
    profiles = write_profiles(tmp_path / "profiles", target.output)

    def run(*args: str, ok: bool = True) -> dict[str, Any]:
        return dbt(*args, "--project-dir", str(root), "--profiles-dir", str(profiles), ok=ok)

    half = sorted(demo_rows, key=lambda r: r["received_at"])[: len(demo_rows) // 2]
    with target.harness() as h:
        h.load(half)
    run("deps")
    assert mode(run("build")) == "full build"
    with target.harness() as h:
        h.load(demo_rows)
    assert mode(run("run")) == "incremental build"
    journey = Settings.create(schema="analytics_journey", count_events=COUNTED)
    expected = compute(demo_rows, 30, 5, COUNTED)
    with target.harness() as h:
        assert_matches_reference(h.fetch(journey), expected, "as a package, after an incremental run")
        visitors = h.engine.query("SELECT visitors FROM analytics.visitors")[0][0]
    visitor = stage_columns(STAGE["dbt_track_facts"], 5, ()).index("dbt_visitor_id")
    assert visitors == len({r[visitor] for r in expected.track_facts})
    # a materialization that cannot keep the tables exact is refused, not run
    project["models"] = {"journey_sql": {"journey_sql": {"dbt_track_facts": {"+materialized": "view"}}}}
    (root / "dbt_project.yml").write_text(yaml.safe_dump(project))
    answer = run("run", ok=False)
    assert "dbt_track_facts is configured materialized='view'" in answer["text"], answer["text"][-2000:]


# dbt parse for the adapters no engine here runs through dbt: dummy credentials, never connected
PARSE_ONLY = {
    "snowflake": {"type": "snowflake", "account": "x", "user": "x", "password": "x", "database": "x", "warehouse": "x"},
    "bigquery": {"type": "bigquery", "method": "oauth", "project": "x"},
    "redshift": {"type": "redshift", "host": "x", "user": "x", "password": "x", "port": 5439, "dbname": "x"},
    "databricks": {"type": "databricks", "host": "x", "http_path": "x", "token": "x"},
    "spark": {"type": "spark", "method": "session", "host": "x"},
    "clickhouse": {"type": "clickhouse", "host": "x", "user": "x", "password": ""},
    "trino": {"type": "trino", "method": "none", "user": "x", "host": "x", "port": 8080, "database": "x"},
}


@pytest.mark.parametrize("dialect", sorted(PARSE_ONLY))
def test_dbt_parses_the_project_for_other_adapters(dbt: Dbt, dialect: str, tmp_path: Path) -> None:
    """What can be checked here without the warehouse: the adapter loads the project, every model's Jinja
    renders, the DAG and the tests are the same as on DuckDB (.ci/run installs these adapters)."""
    s = settings_for()
    write_project(s, dialect, tmp_path / "project")
    output = {**PARSE_ONLY[dialect], "schema": "analytics"}
    if dialect == "bigquery":
        output["dataset"] = output.pop("schema")
    profiles = write_profiles(tmp_path / "profiles", output)
    args = ("--project-dir", str(tmp_path / "project"), "--profiles-dir", str(profiles))
    answer = dbt("parse", *args, ok=False)
    if not answer["success"] and "Could not find adapter type" in (answer["exception"] or "") + answer["text"]:
        if os.environ.get("CI"):
            pytest.fail(f"dbt-{dialect} is not installed in the dbt venv; .ci/run installs it")
        pytest.skip(f"dbt-{dialect} is not installed in the dbt venv")
    assert answer["success"], f"{answer['exception']}\n{answer['text'][-2000:]}"
    manifest = json.loads((tmp_path / "project" / "target" / "manifest.json").read_text())
    models = {k.split(".")[-1]: v for k, v in manifest["nodes"].items() if v["resource_type"] == "model"}
    assert sorted(models) == sorted(stage.name for stage in PLAN_STAGES)
    assert models["dbt_track_facts"]["depends_on"]["nodes"] == ["model.journey_sql.dbt_mapped_tracks"]
    assert len([v for v in manifest["nodes"].values() if v["resource_type"] == "test"]) >= 60


# -- the files journey-sql writes --------------------------------------------------------------------


@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "snowflake"])
def test_golden_dbt_project(dialect: str, update_golden: bool) -> None:
    """The project as reviewed, per dialect; regenerate deliberately with `pytest --update-golden`."""
    s = Settings.create(count_events=("Order Completed", NASTY))
    files = render_files(s, get_dialect(dialect), "journey_sql", "journey-sql dbt --out DIR --dialect " + dialect)
    folder = GOLDEN / dialect
    if update_golden:
        shutil.rmtree(folder, ignore_errors=True)
        for name, text in files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text.replace(__version__, "<version>"))
        pytest.skip(f"wrote {folder}: review the diff (git diff tests/golden) before committing")
    on_disk = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert on_disk == sorted(files), "the project's files changed: run pytest --update-golden and review"
    for name, text in files.items():
        assert text.replace(__version__, "<version>") == (folder / name).read_text(), f"{folder / name} differs"


def test_only_duckdb_and_postgres_continue_incrementally_through_dbt() -> None:
    s = Settings.create()
    for dialect in ("duckdb", "postgres"):
        model = render_files(s, get_dialect(dialect), "p", "c")["models/journey_sql/dbt_track_facts.sql"]
        assert "journey_sql_continues_run()" in model and "DELETE FROM" in model
    for dialect in ("snowflake", "bigquery", "redshift", "databricks", "clickhouse"):
        files = render_files(s, get_dialect(dialect), "p", "c")
        assert "journey_sql_continues" not in files["models/journey_sql/dbt_track_facts.sql"], dialect
        assert "rebuilds the tables in full" in files["README.md"], dialect


def test_every_model_reads_the_ones_before_it_with_ref() -> None:
    files = render_files(Settings.create(), get_dialect("duckdb"), "p", "c")
    events = files["models/journey_sql/jsql_events.sql"]
    assert "{{ source('rudder', 'tracks') }}" in events and "rudder.tracks" not in events.replace(
        "'rudder', 'tracks'", ""
    )
    for stage in STAGES:
        assert "jsqldbtschema" not in files[f"models/journey_sql/{stage.name}.sql"], stage.name
    assert "{{ ref('dbt_mapped_tracks') }}" in files["models/journey_sql/dbt_track_facts.sql"]


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, ["dbt", *args], catch_exceptions=False)


def test_cli_writes_a_project_and_never_a_file_it_did_not_write(tmp_path: Path) -> None:
    out = tmp_path / "project"
    result = invoke("--out", str(out), "--count-event", "Order Completed")
    assert result.exit_code == 0, result.output
    assert "wrote a dbt project" in result.output and "continues incrementally" in result.output
    yml = yaml.safe_load((out / "dbt_project.yml").read_text())
    assert yml["vars"]["journey_sql_count_events"] == ["Order Completed"]
    assert f"journey-sql dbt --out {out} --count-event 'Order Completed'\n" in (out / "dbt_project.yml").read_text()
    # again without --force: refused, nothing changed
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    result = invoke("--out", str(out), "--depth", "7")
    assert result.exit_code != 0 and "add --force" in result.output
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    # with --force: its own files are replaced, the user's own (and dbt's target/) stay
    (out / "target").mkdir()
    (out / "target" / "manifest.json").write_text("{}")
    (out / "models" / "mine.sql").write_text("select 1")
    result = invoke("--out", str(out), "--depth", "7", "--force")
    assert result.exit_code == 0, result.output
    assert yaml.safe_load((out / "dbt_project.yml").read_text())["vars"]["journey_sql_depth"] == 7
    assert (out / "models" / "mine.sql").read_text() == "select 1"
    assert (out / "target" / "manifest.json").read_text() == "{}"
    # a file journey-sql wrote and the user edited: --force refuses to lose the edit
    edited = out / "models" / "journey_sql" / "schema.yml"
    edited.write_text(edited.read_text() + "# my note\n")
    result = invoke("--out", str(out), "--force")
    assert result.exit_code != 0 and "was changed since journey-sql wrote it" in result.output
    assert edited.read_text().endswith("# my note\n")


def test_cli_refuses_a_folder_holding_other_files_and_file_sources(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("mine")
    result = invoke("--out", str(tmp_path))
    assert result.exit_code != 0 and "journey-sql did not write" in result.output and "notes.md" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.md"]
    result = invoke("--out", str(tmp_path / "new"), "--source-path", "events/*.parquet")
    assert result.exit_code != 0 and "reads tables, not --source-path files" in result.output
    assert not (tmp_path / "new").exists()
    assert "Traceback" not in result.output
