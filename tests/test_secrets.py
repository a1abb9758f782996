"""No password, token or key is ever printed, whatever the URL's shape and wherever the secret came from.

The unit properties pin the two redaction passes (URL-like text; whole-token
secrets). The matrix runs the real CLI in a subprocess, so the assertion is on
everything a user would see (stdout and stderr together): against the
throwaway PostgreSQL cluster with password authentication (md5 and SCRAM
roles), a closed port, an unresolvable host, a dbt profile, journey-sql.toml,
and the other warehouses' own variables.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from strategies import examples

from journey_sql.core.redact import MASK, redact_tokens, redact_urls, scrub

SECRET = "S3cret-x9"

# -- redaction, unit properties -----------------------------------------------------------

# (what a user might type, what may be printed): {pw} is the password
URL_SHAPES = [
    ("postgres:{pw}@127.0.0.1:5545/postgres", "postgres:***@127.0.0.1:5545/postgres"),
    ("postgresql:/user:{pw}@db.example.com/warehouse", "postgresql:***@db.example.com/warehouse"),
    ("duckdb://user:{pw}@host", "duckdb://user:***@host"),
    ("postgresql://analyst:{pw}@db.example.com:5432/dw", "postgresql://analyst:***@db.example.com:5432/dw"),
    ("snowflake://me:{pw}@acct/DB?warehouse=WH", "snowflake://me:***@acct/DB?warehouse=WH"),
    ("redshift://etl:{pw}@[::1/dev", "redshift://etl:***@[::1/dev"),
    ("postgresql://u@h/db?sslmode=require&password={pw}", "postgresql://u@h/db?sslmode=require&password=***"),
    ("databricks://h/sql/1.0/x?token={pw}&catalog=main", "databricks://h/sql/1.0/x?token=***&catalog=main"),
    ("user:{pw}@host", "user:***@host"),
]

# characters a password may hold inside a URL without percent-encoding
url_passwords = st.text(alphabet=st.sampled_from("abcXYZ019-._~!$*+%@:"), min_size=1, max_size=16).filter(
    lambda p: p[0] not in "@:"
)


@pytest.mark.parametrize(("shape", "printed"), URL_SHAPES)
@hsettings(max_examples=examples(25))
@given(password=url_passwords)
def test_url_passwords_are_masked_whatever_the_shape(shape: str, printed: str, password: str) -> None:
    for context in ("{}", "Connection '{}' is not a URL.", 'could not connect to "{}": refused'):
        assert redact_urls(context.format(shape.format(pw=password))) == context.format(printed)


def test_urls_without_a_secret_are_shown_as_written() -> None:
    for url in (
        "duckdb:////tmp/x.duckdb",
        "duckdb:///relative.duckdb?threads=2",
        "postgresql://analyst@db.example.com:5432/warehouse?sslmode=require",
        "snowflake://me@acct/DB?private_key_file=~/.snowflake/key.p8",
        "mail me at someone@example.com",
    ):
        assert scrub(url) == url


words = st.text(alphabet=st.characters(categories=["L", "Nd"]), min_size=1, max_size=6)


@hsettings(max_examples=examples(60))
@given(secret=words, prefix=words, suffix=words)
def test_secrets_are_replaced_as_whole_tokens_only(secret: str, prefix: str, suffix: str) -> None:
    # inside a longer word: untouched (JOURNEY_SQL_PASSWORD=post must not turn "postgres" into "***gres")
    for word in (secret + suffix, prefix + secret, prefix + secret + suffix):
        message = f'password authentication failed for user "{word}"'
        assert redact_tokens(message, [secret]) == message
    # standing alone: masked, and the words around it stay as they were
    assume(secret not in prefix and secret not in suffix)
    message = f'user "{prefix}" password {secret}: {suffix}.'
    assert redact_tokens(message, [secret]) == f'user "{prefix}" password {MASK}: {suffix}.'
    assert secret not in redact_tokens(f"({secret})", [secret])


def test_short_password_never_mangles_server_words(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOURNEY_SQL_PASSWORD", "post")
    message = 'FATAL: password authentication failed for user "postgres" (password "post")'
    assert scrub(message) == 'FATAL: password authentication failed for user "postgres" (password "***")'


# -- the matrix: the real CLI, full output ---------------------------------------------------

SECRET_VARS = (
    "PGPASSWORD",
    "REDSHIFT_PASSWORD",
    "SNOWFLAKE_PASSWORD",
    "SNOWFLAKE_TOKEN",
    "DATABRICKS_TOKEN",
    "PRIVATE_KEY_PASSPHRASE",
    "PGPASSFILE",
)


def run_cli(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, str]:
    """journey-sql in a fresh process; its exit code and everything it printed (stdout + stderr)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("JOURNEY_SQL_") and k not in SECRET_VARS}
    clean.pop("DBT_PROFILES_DIR", None)
    done = subprocess.run(
        [sys.executable, "-m", "journey_sql", *args],
        cwd=cwd,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return done.returncode, done.stdout + done.stderr


def assert_clean_failure(code: int, output: str, secrets: list[str], expect: str) -> None:
    assert code != 0, output
    assert expect in output, output
    assert "Traceback" not in output, output
    assert len(output.strip().splitlines()) == 1, output
    for secret in secrets:
        assert secret not in output, output


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "url",
    [shape.format(pw=SECRET) for shape, _ in URL_SHAPES if "databricks" not in shape]
    + [f"duckdb:///user:{SECRET}@nowhere/x.duckdb", f"postgresql://u@h:notaport/db?password={SECRET}"],
)
def test_malformed_and_secret_bearing_urls_are_never_echoed(tmp_path: Path, url: str) -> None:
    from click.testing import CliRunner

    from journey_sql.cli.app import cli

    result = CliRunner().invoke(cli, ["apply", "--connection", url])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert SECRET not in result.output and len(result.output.strip().splitlines()) == 1, result.output


@pytest.fixture(scope="module")
def pg(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The shared cluster, with password-authenticated roles (md5 and SCRAM) and a small source."""
    from engines.pg import PostgresHarness, postgres_engine, shared_cluster

    cluster = shared_cluster()
    database = cluster.database("jsql_secrets", fresh=True)
    harness = PostgresHarness(postgres_engine(database, cluster))
    from datetime import datetime

    t = datetime(2026, 3, 1, 12)
    harness.load([{"id": "e1", "anonymous_id": "a1", "user_id": None, "event": "x", "timestamp": t, "received_at": t}])
    harness.close()
    cluster.login_role("jsql_scram", SECRET, scram=True)
    cluster.login_role("postgres_reader", "Rdr-" + SECRET)
    cluster.login_role("postgres_short", "post")
    return {"cluster": cluster, "database": database}


def _url(pg: dict[str, Any], user: str, database: str | None = None, port: int | None = None) -> str:
    c = pg["cluster"]
    return f"postgresql://{user}@{c.host}:{port or c.port}/{database or pg['database']}"


def test_postgres_wrong_password_from_each_variable(pg: dict[str, Any], tmp_path: Path) -> None:
    wrong = "Wr0ng-" + SECRET
    for var in ("PGPASSWORD", "JOURNEY_SQL_PASSWORD"):
        code, out = run_cli(["apply", "--connection", _url(pg, "jsql_scram")], tmp_path, {var: wrong})
        assert_clean_failure(code, out, [wrong, SECRET], 'password authentication failed for user "jsql_scram"')


def test_a_short_password_does_not_mangle_the_server_message(pg: dict[str, Any], tmp_path: Path) -> None:
    # wrong for postgres_reader, whose name contains it
    url = _url(pg, "postgres_reader")
    code, out = run_cli(["apply", "--connection", url], tmp_path, {"JOURNEY_SQL_PASSWORD": "post"})
    assert_clean_failure(code, out, [], 'password authentication failed for user "postgres_reader"')
    assert "***gres" not in out
    # right for postgres_short, but the database "postgres_nowhere" does not exist
    code, out = run_cli(
        ["apply", "--connection", _url(pg, "postgres_short", "postgres_nowhere")], tmp_path, {"PGPASSWORD": "post"}
    )
    assert_clean_failure(code, out, [], 'database "postgres_nowhere" does not exist')
    assert "***" not in out


def test_wrong_host_and_wrong_port(pg: dict[str, Any], tmp_path: Path) -> None:
    env = {"PGPASSWORD": SECRET}
    code, out = run_cli(["apply", "--connection", _url(pg, "jsql_scram", port=closed_port())], tmp_path, env)
    assert_clean_failure(code, out, [SECRET], "Connection refused")
    url = f"postgresql://jsql_scram@no-such-host.invalid:5432/{pg['database']}?connect_timeout=3"
    code, out = run_cli(["apply", "--connection", url], tmp_path, env)
    assert_clean_failure(code, out, [SECRET], "Cannot connect to PostgreSQL at " + url)


def test_right_password_runs_and_prints_no_secret(pg: dict[str, Any], tmp_path: Path) -> None:
    code, out = run_cli(
        ["apply", "--explain", "--connection", _url(pg, "jsql_scram"), "--schema", "secrets_ok"],
        tmp_path,
        {"JOURNEY_SQL_PASSWORD": SECRET},
    )
    assert code == 0, out
    assert "1 event placed in secrets_ok" in out and SECRET not in out and "Traceback" not in out


PROFILE = """
journeys:
  target: dev
  outputs:
    dev:
      type: postgres
      host: {host}
      port: {port}
      user: jsql_scram
      {key}: "{password}"
      dbname: {database}
      schema: from_profile
"""


def test_dbt_profile_password_and_its_pass_alias(pg: dict[str, Any], tmp_path: Path) -> None:
    c = pg["cluster"]
    env = {"DBT_PROFILES_DIR": str(tmp_path)}
    profile = tmp_path / "profiles.yml"
    for key in ("password", "pass"):
        wrong = f"Wr0ng-{key}-{SECRET}"
        profile.write_text(PROFILE.format(host=c.host, port=c.port, key=key, password=wrong, database=pg["database"]))
        code, out = run_cli(["apply", "--profile", "journeys"], tmp_path, env)
        assert_clean_failure(code, out, [wrong], "password authentication failed")
    # dbt's `pass:` is honoured: the right one connects
    profile.write_text(PROFILE.format(host=c.host, port=c.port, key="pass", password=SECRET, database=pg["database"]))
    code, out = run_cli(["apply", "--profile", "journeys"], tmp_path, env)
    assert code == 0 and "placed in from_profile" in out and SECRET not in out, out


def test_journey_sql_toml_targets_never_echo_a_secret(tmp_path: Path) -> None:
    toml = tmp_path / "journey-sql.toml"
    cases = [
        (f'[targets.prod]\nconnection = "postgresql://etl:{SECRET}@db.internal/warehouse"\n', "Put no password"),
        (f'[targets.prod]\nconnection = "postgres:{SECRET}@db.internal/warehouse"\n', "is not a URL"),
        (f'[targets.prod]\nconnection = "duckdb:///x.duckdb"\npassword = "{SECRET}"\n', "secrets do not go in"),
        (f'[targets.prod]\nconnection = "duckdb:///x.duckdb"\npasword = "{SECRET}"\n', "unknown setting 'pasword'"),
    ]
    for text, expect in cases:
        toml.write_text(text)
        code, out = run_cli(["apply", "--target", "prod"], tmp_path)
        assert_clean_failure(code, out, [SECRET], expect)


def test_other_warehouses_variables_are_never_printed(tmp_path: Path) -> None:
    port = closed_port()
    code, out = run_cli(
        ["apply", "--connection", f"snowflake://me@acct/DB?host=127.0.0.1&port={port}&protocol=http&login_timeout=3"],
        tmp_path,
        {"SNOWFLAKE_PASSWORD": SECRET},
    )
    assert_clean_failure(code, out, [SECRET], "Cannot connect to Snowflake")
    code, out = run_cli(
        ["apply", "--connection", f"redshift://etl@127.0.0.1:{port}/dev?timeout=3"],
        tmp_path,
        {"REDSHIFT_PASSWORD": SECRET},
    )
    assert_clean_failure(code, out, [SECRET], "Cannot connect to Redshift")
    # the Databricks connector retries an unreachable host for minutes: the engine's own message instead
    pytest.importorskip("databricks.sql")
    from journey_sql.core.errors import ConnectionError_
    from journey_sql.engines.connection import connect

    os.environ["DATABRICKS_TOKEN"] = SECRET
    try:
        with pytest.raises(ConnectionError_) as err:
            connect(f"databricks://127.0.0.1:{port}/sql/1.0/warehouses/abc", _retry_stop_after_attempts_count=1)
    finally:
        del os.environ["DATABRICKS_TOKEN"]
    assert SECRET not in str(err.value)


def test_debug_traceback_and_unexpected_errors_are_scrubbed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    import journey_sql.engines.connection as engines
    from journey_sql.cli.app import cli

    def boom(url: str, **_: Any) -> None:
        raise RuntimeError(f"driver said: could not log in to postgresql://etl:{SECRET}@h/db with {SECRET}\nmore")

    monkeypatch.setattr(engines, "connect", boom)
    monkeypatch.setenv("PGPASSWORD", SECRET)
    result = CliRunner().invoke(cli, ["apply", "--connection", "postgresql://etl@h/db"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert result.output.strip() == (
        "Error: journey-sql failed: RuntimeError: driver said: could not log in to postgresql://etl:***@h/db "
        "with ***. Run again as `journey-sql --debug apply ...` for the traceback."
    )
    result = CliRunner().invoke(cli, ["--debug", "apply", "--connection", "postgresql://etl@h/db"])
    assert result.exit_code == 1 and "Traceback" in result.output and "RuntimeError" in result.output
    assert SECRET not in result.output


def test_connecting_with_profile_secrets_registers_them_for_every_command() -> None:
    """paths, funnel and report connect like apply: a dbt profile's password is scrubbed from their errors too."""
    from journey_sql.core.redact import known_secrets, scrub
    from journey_sql.engines.connection import connect

    engine = connect("duckdb:///:memory:", secrets={"password": "prof1le-Secret-77"})
    engine.close()
    assert "prof1le-Secret-77" in known_secrets()
    assert "prof1le-Secret-77" not in scrub("password authentication failed: prof1le-Secret-77")
