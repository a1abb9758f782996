"""Named targets in journey-sql.toml and dbt profiles.yml."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from journey_sql.cli.app import cli
from journey_sql.core.errors import ConfigError
from journey_sql.demo.data import generate
from journey_sql.engines.connection import parse_connection
from journey_sql.engines.profiles import from_profile

PROFILES = """
journeys:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: {db}
      schema: from_profile
    sf:
      type: snowflake
      account: acme-xy12345
      user: analyst
      password: "{{{{ env_var('TEST_SF_PASSWORD') }}}}"
      role: transformer
      database: RAW
      warehouse: TRANSFORM
      schema: journeys
    bq:
      type: bigquery
      method: service-account
      project: my-project
      dataset: journeys
      keyfile: /secrets/sa.json
      location: EU
    pg:
      type: postgres
      host: db.internal
      user: etl
      password: "{{{{ env_var('TEST_PG_PASSWORD', 'fallback') }}}}"
      port: 6543
      dbname: warehouse
      schema: analytics
    rs:
      type: redshift
      host: example.redshift.amazonaws.com
      user: etl
      password: hunter2
      port: 5439
      dbname: dev
      schema: analytics
    dbx:
      type: databricks
      host: dbc-123.cloud.databricks.com
      http_path: /sql/1.0/warehouses/abc
      token: dapiXYZ
      catalog: main
      schema: journeys
"""


@pytest.fixture
def profiles_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    db = tmp_path / "p.duckdb"
    con = duckdb.connect(str(db))
    generate(con, 1000, seed=11)
    con.close()
    (tmp_path / "profiles.yml").write_text(PROFILES.format(db=db))
    monkeypatch.setenv("DBT_PROFILES_DIR", str(tmp_path))
    monkeypatch.setenv("TEST_SF_PASSWORD", "s3cret-sf")
    return tmp_path


def test_apply_with_a_dbt_profile_uses_its_connection_and_schema(profiles_dir: Path) -> None:
    result = CliRunner().invoke(cli, ["apply", "--profile", "journeys"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    con = duckdb.connect(str(profiles_dir / "p.duckdb"), read_only=True)
    tables = {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema='from_profile'"
        ).fetchall()
    }
    con.close()
    assert len(tables) == 10  # every stage, the events table and the state


@pytest.mark.parametrize(
    ("output", "url", "secrets"),
    [
        ("sf", "snowflake://analyst@acme-xy12345/RAW?warehouse=TRANSFORM&role=transformer", {"password": "s3cret-sf"}),
        ("bq", "bigquery://my-project?location=EU", {"keyfile": "/secrets/sa.json"}),
        ("pg", "postgresql://etl@db.internal:6543/warehouse", {"password": "fallback"}),
        ("rs", "redshift://etl@example.redshift.amazonaws.com:5439/dev", {"password": "hunter2"}),
        ("dbx", "databricks://dbc-123.cloud.databricks.com/sql/1.0/warehouses/abc?catalog=main", {"token": "dapiXYZ"}),
    ],
)
def test_profile_outputs_become_urls_with_secrets_beside_them(
    profiles_dir: Path, output: str, url: str, secrets: dict
) -> None:
    target = from_profile("journeys", output)
    assert target.url == url
    assert target.secrets == secrets
    for secret in secrets.values():
        if secret.startswith("/"):
            continue
        assert secret not in target.url and secret not in repr(target)
    parse_connection(target.url)  # a URL journey-sql accepts


def test_profile_errors_say_what_exists(profiles_dir: Path) -> None:
    with pytest.raises(ConfigError, match="Did you mean 'journeys'"):
        from_profile("journey")
    with pytest.raises(ConfigError, match="Outputs: dev, sf"):
        from_profile("journeys", "prod")


def test_connection_and_profile_together_are_refused(profiles_dir: Path) -> None:
    result = CliRunner().invoke(cli, ["apply", "--profile", "journeys", "--connection", "duckdb:///x.duckdb"])
    assert result.exit_code == 1 and "either --connection or --profile" in result.output


def test_toml_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "t.duckdb"
    con = duckdb.connect(str(db))
    generate(con, 1000, seed=12)
    con.close()
    (tmp_path / "journey-sql.toml").write_text(
        f'schema = "top"\n[targets.local]\nconnection = "duckdb:///{db}"\nschema = "from_target"\ndepth = 3\n'
    )
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["apply", "--target", "local"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    con = duckdb.connect(str(db), read_only=True)
    cols = [r[0] for r in con.execute("DESCRIBE from_target.dbt_tracks_flow").fetchall()]
    con.close()
    assert cols[-1] == "event_3"
    result = CliRunner().invoke(cli, ["apply", "--target", "locl"])
    assert result.exit_code == 1 and "Did you mean 'local'" in result.output


def test_password_in_url_is_refused_and_redacted() -> None:
    result = CliRunner().invoke(cli, ["apply", "--connection", "postgresql://etl:hunter2@db/warehouse"])
    assert result.exit_code == 1
    assert "hunter2" not in result.output and "JOURNEY_SQL_PASSWORD" in result.output


@pytest.mark.parametrize(
    ("url", "hidden"),
    [
        ("postgresql://etl:hunter2@db/warehouse", "hunter2"),
        ("postgresql://etl@db/warehouse?sslpassword=s3cret&sslmode=require", "s3cret"),
        ("databricks://host/path?access_token=dapi123", "dapi123"),
    ],
)
def test_redacted_urls_hide_secrets(url: str, hidden: str) -> None:
    from journey_sql.engines.spec import redact_url

    assert hidden not in redact_url(url)
    assert redact_url(url).split("://")[0] == url.split("://")[0]
