"""The registries are derived from the engine classes, each the one home of its warehouse.

Nothing here connects: these check the tables that engines/connection.py and
engines/profiles.py read off the classes, and that building them imports no driver.
"""

from __future__ import annotations

import subprocess
import sys
import typing

import pytest

from journey_sql.core.errors import ConfigError
from journey_sql.dialects.dialect import get_dialect
from journey_sql.engines.base import DBAPIEngine, Engine, ReplaceStrategy
from journey_sql.engines.connection import engine_class, parse_connection
from journey_sql.engines.profiles import from_profile
from journey_sql.engines.registry import dbt_converters, engines, examples

# Written out here, not read from the code: losing one is a regression.
DBT_TYPES = {"postgres", "redshift", "snowflake", "bigquery", "databricks", "duckdb", "spark", "clickhouse"}
SCHEMES = {"duckdb", "postgresql", "postgres", "redshift", "snowflake", "bigquery", "spark", "databricks", "chdb"}
SCHEMES |= {"clickhouse"}

# A minimal dbt profile output per adapter type.
PROFILES = {
    "postgres": {"host": "db", "user": "u", "dbname": "d", "pass": "pw"},
    "redshift": {"host": "rs", "user": "u", "dbname": "d", "password": "pw"},
    "snowflake": {"account": "acc", "user": "u", "database": "d", "password": "pw"},
    "bigquery": {"project": "p", "location": "EU"},
    "databricks": {"host": "h.cloud.databricks.com", "http_path": "/sql/1.0/warehouses/x", "token": "t"},
    "duckdb": {"path": "x.duckdb"},
    "spark": {"method": "session"},
    "clickhouse": {"host": "ch", "user": "u", "password": "pw"},
}


def _all_schemes() -> list[str]:
    return [s for cls in engines() for s in (cls.scheme, *cls.scheme_aliases)]


def test_no_two_engines_claim_one_scheme() -> None:
    schemes = _all_schemes()
    assert len(schemes) == len(set(schemes)), schemes
    assert set(schemes) == SCHEMES
    for scheme in schemes:
        cls = engine_class(scheme)
        assert scheme in (cls.scheme, *cls.scheme_aliases)


def test_every_dbt_type_maps_to_one_engine() -> None:
    kinds = [kind for cls in engines() for kind in cls.dbt_types]
    assert len(kinds) == len(set(kinds)), kinds
    assert set(dbt_converters()) == DBT_TYPES


@pytest.mark.parametrize("kind", sorted(DBT_TYPES))
def test_a_dbt_profile_connects_to_the_engine_that_converts_it(kind: str, tmp_path, monkeypatch) -> None:
    """Through from_profile, as the CLI does: the URL names the converting engine and carries no secret."""
    import yaml

    output = {"type": kind, "schema": "analytics", **PROFILES[kind]}
    (tmp_path / "profiles.yml").write_text(yaml.safe_dump({"p": {"target": "t", "outputs": {"t": output}}}))
    monkeypatch.setenv("DBT_PROFILES_DIR", str(tmp_path))
    target = from_profile("p")
    owner = next(cls for cls in engines() if kind in cls.dbt_types)
    assert engine_class(parse_connection(target.url).scheme) is owner
    assert target.defaults == {"schema": "analytics"}
    for secret in ("pw", "t"):
        if secret in PROFILES[kind].values():
            assert f"={secret}" not in target.url and f":{secret}@" not in target.url


def test_an_unknown_dbt_type_lists_every_engine_type(tmp_path, monkeypatch) -> None:
    import yaml

    (tmp_path / "profiles.yml").write_text(yaml.safe_dump({"p": {"target": "t", "outputs": {"t": {"type": "oracle"}}}}))
    monkeypatch.setenv("DBT_PROFILES_DIR", str(tmp_path))
    with pytest.raises(ConfigError) as err:
        from_profile("p")
    for kind in DBT_TYPES:
        assert kind in str(err.value)


def test_an_unknown_scheme_names_every_engine_scheme() -> None:
    with pytest.raises(ConfigError) as err:
        parse_connection("oracle://u@h/db")
    message = str(err.value)
    assert "\n" not in message
    for cls in engines():
        assert cls.scheme in message.split("Supported:")[1]
    with pytest.raises(ConfigError) as err:
        parse_connection("journey.duckdb")
    assert examples()["duckdb"] in str(err.value) and examples()["postgresql"] in str(err.value)


@pytest.mark.parametrize("cls", engines(), ids=lambda c: c.__name__)
def test_each_engine_declares_its_warehouse(cls: type[Engine]) -> None:
    for attribute in ("scheme", "title", "example", "dialect_name"):
        assert isinstance(getattr(cls, attribute, None), str) and getattr(cls, attribute), attribute
    # every example parses back to this engine
    for url in cls.example.replace(" or ", ", ").split(", "):
        assert engine_class(parse_connection(url).scheme) is cls, url
    # its dialect exists and agrees on transactions (render's script and apply's run)
    dialect = get_dialect(cls.dialect_name)
    assert dialect.transactional_ddl == cls.transactional_ddl
    assert cls.replace_strategy in typing.get_args(ReplaceStrategy)
    # a capability is claimed exactly where the method behind it exists
    assert cls.supports_dry_run == callable(getattr(cls, "dry_run", None))
    # a local path is what a path-URL engine opens: no host
    if cls.url_is_local_path:
        assert parse_connection(f"{cls.scheme}:///:memory:").path == ":memory:"
    if cls.dbt_types:
        assert "from_dbt_profile" in {k for c in cls.__mro__ if c is not Engine for k in vars(c)}


@pytest.mark.parametrize("cls", [c for c in engines() if issubclass(c, DBAPIEngine)], ids=lambda c: c.__name__)
def test_db_api_engines_share_execute_query_close(cls: type[Engine]) -> None:
    """The shared base runs statements; an engine overrides only how (DuckDB) or how errors read (Redshift)."""
    for name in ("execute", "query", "close"):
        assert name not in vars(cls), f"{cls.__name__} repeats {name}"


def test_the_db_api_base_covers_the_connection_engines() -> None:
    names = {c.__name__ for c in engines() if issubclass(c, DBAPIEngine)}
    assert {"DuckDBEngine", "PostgresEngine", "RedshiftEngine", "SnowflakeEngine", "DatabricksEngine"} <= names
    assert "ChdbEngine" in names


def test_the_registries_import_no_driver() -> None:
    code = (
        "import sys\n"
        "from journey_sql.engines.registry import engines, examples, dbt_converters, by_scheme\n"
        "from journey_sql.engines.connection import parse_connection\n"
        "engines(); dbt_converters(); by_scheme()\n"
        "parse_connection('postgresql://u@h/db'); parse_connection('duckdb:///:memory:')\n"
        "drivers = ('duckdb', 'psycopg', 'redshift_connector', 'snowflake', 'google', 'pyspark', 'databricks',"
        " 'chdb', 'clickhouse_connect')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in drivers))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
