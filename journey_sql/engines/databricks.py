"""Databricks SQL warehouses and clusters, through databricks-sql-connector.

URL: databricks://HOST/HTTP_PATH[?catalog=CATALOG], e.g.
databricks://dbc-1234.cloud.databricks.com/sql/1.0/warehouses/abc123?catalog=main
The personal access token comes from a dbt profile, DATABRICKS_TOKEN or
JOURNEY_SQL_TOKEN, never from the URL.

Tables are Delta tables, which take CREATE OR REPLACE as one atomic commit;
DDL is still not transactional across tables, so the executor builds staging
tables and swaps each in at the end.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlglot import exp

from journey_sql.core.errors import ConfigError, ConnectionError_, first_line
from journey_sql.engines.base import DBAPIEngine, import_driver, profile_pick, profile_query
from journey_sql.engines.spec import ConnectionSpec


class DatabricksEngine(DBAPIEngine):
    scheme = "databricks"
    title = "Databricks"
    example = "databricks://HOST/HTTP_PATH"
    dbt_types = ("databricks",)
    dialect_name = "databricks"
    transactional_ddl = False
    row_level_dml = True  # Delta tables take DELETE, UPDATE and MERGE
    replace_strategy = "copy"
    cheap_source_count = True

    @classmethod
    def from_dbt_profile(cls, o: dict[str, Any]) -> tuple[str, dict[str, str]]:
        http_path = str(o.get("http_path", "")).lstrip("/")
        url = f"databricks://{o.get('host', '')}/{http_path}{profile_query({'catalog': o.get('catalog')})}"
        return url, profile_pick(o, "token")

    @classmethod
    def connect_arguments(cls, spec: ConnectionSpec) -> dict[str, Any]:
        """What databricks.sql.connect needs, from the URL and the token's usual places."""
        if not spec.host or not spec.path:
            raise ConfigError(
                f"Databricks connections need a host and the warehouse's HTTP path: {cls.example} "
                f"(got {spec.redacted()!r}). Both are on the warehouse's Connection details tab."
            )
        token = spec.secret("token", env="DATABRICKS_TOKEN")
        if not token:
            raise ConnectionError_(
                f"No Databricks access token for {spec.redacted()}: set DATABRICKS_TOKEN (or JOURNEY_SQL_TOKEN) "
                "to a personal access token."
            )
        args: dict[str, Any] = {"server_hostname": spec.host, "http_path": "/" + spec.path, "access_token": token}
        if spec.port:  # a proxy or private endpoint; the connector's default is 443
            args["_port"] = spec.port
        if spec.params.get("catalog"):
            args["catalog"] = spec.params["catalog"]
        return args

    @classmethod
    def connect(cls, spec: ConnectionSpec, **options: Any) -> DatabricksEngine:
        args = cls.connect_arguments(spec)
        # The connector logs a pyarrow notice on import and every failed
        # attempt before it raises; our errors carry the message once.
        connector_log = logging.getLogger("databricks.sql")
        if connector_log.level == logging.NOTSET:
            connector_log.setLevel(logging.CRITICAL)
        sql = import_driver("databricks.sql", "databricks")
        args.update({k: v for k, v in options.items() if k.startswith("_")})  # connector tuning, e.g. retries
        try:
            con = sql.connect(**args)
        except Exception as err:  # the connector raises its own and requests' errors
            raise ConnectionError_(f"Cannot connect to Databricks at {spec.redacted()}: {first_line(err)}") from None
        return cls(spec, con)

    def explain(self, sql: str) -> str:
        return str(self.query(f"EXPLAIN {sql}")[0][0])

    # -- catalog: SHOW and DESCRIBE work on Unity Catalog and on the legacy
    # hive_metastore alike, where information_schema does not exist.
    def _ident(self, name: str) -> str:
        return exp.to_identifier(name, quoted=True).sql("databricks")

    def schemas(self) -> list[str]:
        return sorted(str(r[0]) for r in self.query("SHOW SCHEMAS"))

    def tables(self, schema: str) -> list[str]:
        # columns: database, tableName, isTemporary
        return sorted(str(r[1]) for r in self.query(f"SHOW TABLES IN {self._ident(schema)}") if not r[2])

    def columns(self, schema: str, table: str) -> dict[str, str] | None:
        if schema.lower() not in (s.lower() for s in self.schemas()):
            return None
        if table.lower() not in (t.lower() for t in self.tables(schema)):
            return None
        columns: dict[str, str] = {}
        for name, dtype, *_ in self.query(f"DESCRIBE TABLE {self._ident(schema)}.{self._ident(table)}"):
            if not name or str(name).startswith("#"):  # partition and detail sections follow a blank row
                break
            columns[str(name).lower()] = str(dtype)
        return columns

    def replace_table(self, final: exp.Table, staging: exp.Table) -> None:
        # One atomic Delta commit: readers see the old table until the new one
        # is complete, and the final table keeps its history (time travel),
        # grants and comments, which DROP + RENAME would lose. The price is
        # copying the staging table's data once more.
        self.execute(f"CREATE OR REPLACE TABLE {self.sql(final)} AS SELECT * FROM {self.sql(staging)}")
