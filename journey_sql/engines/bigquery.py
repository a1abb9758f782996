"""Google BigQuery, through the google-cloud-bigquery client.

    bigquery://PROJECT?location=US
    bigquery://PROJECT?location=EU&keyfile=/path/to/service-account.json

A schema is a BigQuery dataset. Credentials: the service-account key file
named by `keyfile` (URL parameter or a profile secret), else Application
Default Credentials (`gcloud auth application-default login`, or
GOOGLE_APPLICATION_CREDENTIALS, or the metadata server on GCP).

For local emulators only: when JOURNEY_SQL_BIGQUERY_ENDPOINT is set (e.g.
http://127.0.0.1:9050) the client talks to that endpoint with anonymous
credentials. The test suite uses it; it is never needed against Google.
"""

from __future__ import annotations

import os
from typing import Any

from sqlglot import exp

from journey_sql.core.errors import ConfigError, ConnectionError_, JourneyError, did_you_mean, first_line
from journey_sql.engines.base import Engine, import_driver, profile_pick, profile_query
from journey_sql.engines.spec import ConnectionSpec

ENDPOINT_ENV = "JOURNEY_SQL_BIGQUERY_ENDPOINT"
PARAMS = ("location", "keyfile", "maximum_bytes_billed")
# An emulator has no transient errors worth retrying; Google's default retry
# would spend ten minutes on an emulator's "internal error".
EMULATOR_RETRY_SECONDS = 20.0


class BigQueryEngine(Engine):
    scheme = "bigquery"
    title = "BigQuery"
    example = "bigquery://PROJECT?location=US"
    dbt_types = ("bigquery",)
    dialect_name = "bigquery"
    # DDL is atomic per statement but there are no transactions across
    # CREATE TABLE statements: build under staging names, then replace.
    transactional_ddl = False
    supports_dry_run = True
    replace_strategy = "copy"
    cheap_source_count = True

    @classmethod
    def from_dbt_profile(cls, o: dict[str, Any]) -> tuple[str, dict[str, str]]:
        secrets = profile_pick(o, "keyfile")
        project = o.get("project") or o.get("database", "")
        return f"bigquery://{project}{profile_query({'location': o.get('location')})}", secrets

    def __init__(self, spec: ConnectionSpec, client: Any, location: str | None, job_options: dict[str, Any]) -> None:
        super().__init__(spec)
        self.client = client
        self.location = location
        self._job_options = job_options  # retry settings for every API call
        self._bq = import_driver("google.cloud.bigquery", "bigquery")
        self._exc = import_driver("google.api_core.exceptions", "bigquery")
        max_bytes = spec.params.get("maximum_bytes_billed")
        self._maximum_bytes_billed = int(max_bytes) if max_bytes else None

    # -- connecting ------------------------------------------------------------
    @classmethod
    def connect(cls, spec: ConnectionSpec, **_: Any) -> BigQueryEngine:
        bigquery = import_driver("google.cloud.bigquery", "bigquery")
        unknown = [p for p in spec.params if p not in PARAMS]
        if unknown:
            raise ConfigError(
                f"Unknown BigQuery connection parameter {unknown[0]!r}.{did_you_mean(unknown[0], PARAMS)} "
                f"Known: {', '.join(PARAMS)}. Example: bigquery://PROJECT?location=US"
            )
        max_bytes = spec.params.get("maximum_bytes_billed")
        if max_bytes is not None and not max_bytes.isdigit():
            raise ConfigError(f"maximum_bytes_billed must be a whole number of bytes, got {max_bytes!r}.")
        location = spec.params.get("location") or None
        project = spec.host or None
        job_options: dict[str, Any] = {}
        endpoint = os.environ.get(ENDPOINT_ENV)
        if endpoint:
            from google.api_core.client_options import ClientOptions
            from google.auth.credentials import AnonymousCredentials
            from google.cloud.bigquery.retry import DEFAULT_JOB_RETRY, DEFAULT_RETRY

            credentials: Any = AnonymousCredentials()
            options: Any = ClientOptions(api_endpoint=endpoint)
            job_options = {
                "retry": DEFAULT_RETRY.with_deadline(EMULATOR_RETRY_SECONDS),
                "job_retry": DEFAULT_JOB_RETRY.with_deadline(EMULATOR_RETRY_SECONDS),
            }
            project = project or "test"
        else:
            credentials, default_project = _credentials(spec)
            options = None
            project = project or default_project
        if not project:
            raise ConfigError("No BigQuery project: name it in the connection, e.g. bigquery://my-project?location=US.")
        try:
            client = bigquery.Client(
                project=project, credentials=credentials, location=location, client_options=options
            )
        except Exception as err:  # the client validates its arguments; nothing secret is in them
            raise ConnectionError_(
                f"Cannot create a BigQuery client for {spec.redacted()}: {first_line(err)}"
            ) from None
        return cls(spec, client, location, job_options)

    def describe(self) -> str:
        where = f" in {self.location}" if self.location else ""
        return f"BigQuery project {self.client.project}{where}"

    # -- running SQL -------------------------------------------------------------
    def _job_config(self, **kwargs: Any) -> Any:
        if self._maximum_bytes_billed is not None and not kwargs.get("dry_run"):
            kwargs["maximum_bytes_billed"] = self._maximum_bytes_billed
        return self._bq.QueryJobConfig(**kwargs)

    def _run(self, sql: str) -> Any:
        return self._finished(sql)[1]

    def _finished(self, sql: str) -> tuple[Any, Any]:
        """The query job of `sql`, run to its end, and its result."""
        job = self.client.query(sql, job_config=self._job_config(), **self._job_options)
        retry = self._job_options.get("retry")
        return job, job.result(retry=retry) if retry is not None else job.result()

    def inserted_rows(self, sql: str) -> int | None:
        job, _ = self._finished(sql)
        count = job.num_dml_affected_rows
        return int(count) if count is not None else None

    def execute(self, sql: str) -> None:
        self._run(sql)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        return [tuple(row.values()) for row in self._run(sql)]

    def close(self) -> None:
        self.client.close()

    def dry_run(self, sql: str) -> int | None:
        """Bytes a query would process, from a dry run (free, nothing runs).

        None when it reads a table that does not exist yet, such as a stage's
        input on the very first run. Other failures (syntax, permissions) raise.
        """
        config = self._job_config(dry_run=True, use_query_cache=False)
        try:
            job = self.client.query(sql, job_config=config, **self._job_options)
        except self._exc.NotFound:
            return None
        except self._exc.GoogleAPICallError as err:
            raise JourneyError(f"BigQuery dry run failed on {self.describe()}: {_api_message(err)}") from None
        return int(job.total_bytes_processed or 0)

    # -- catalog: the API, not INFORMATION_SCHEMA, which BigQuery keeps per dataset and region --
    def _ref(self, schema: str, table: str | None = None) -> str:
        return f"{self.client.project}.{schema}" + (f".{table}" if table else "")

    def _api(self, what: str, call: Any, *args: Any, **kwargs: Any) -> Any:
        """Call the API, turning Google's errors into messages that say what to do."""
        try:
            return call(*args, **kwargs, **self._catalog_options())
        except self._exc.Forbidden as err:
            raise ConnectionError_(
                f"Access denied while trying to {what} in {self.describe()}: {_api_message(err)}. The account "
                "needs BigQuery Job User on the project and Data Editor on the datasets it writes "
                "(Data Viewer on the source dataset)."
            ) from None
        except self._exc.GoogleAPICallError as err:
            if isinstance(err, self._exc.NotFound):
                raise
            raise ConnectionError_(f"BigQuery could not {what} in {self.describe()}: {_api_message(err)}") from None
        except Exception as err:
            auth = import_driver("google.auth.exceptions", "bigquery")
            if isinstance(err, auth.GoogleAuthError):
                raise ConnectionError_(
                    f"BigQuery rejected the credentials for {self.describe()} ({type(err).__name__}). Run "
                    "`gcloud auth application-default login`, or pass keyfile=/path/to/service-account.json."
                ) from None
            raise

    def _catalog_options(self) -> dict[str, Any]:
        retry = self._job_options.get("retry")
        return {"retry": retry} if retry is not None else {}

    def schemas(self) -> list[str]:
        return sorted(d.dataset_id for d in self._api("list datasets", self.client.list_datasets))

    def tables(self, schema: str) -> list[str]:
        try:
            return sorted(
                t.table_id for t in self._api(f"list tables of {schema}", self.client.list_tables, self._ref(schema))
            )
        except self._exc.NotFound:
            return []

    def columns(self, schema: str, table: str) -> dict[str, str] | None:
        try:
            found = self._api(f"read table {schema}.{table}", self.client.get_table, self._ref(schema, table))
        except self._exc.NotFound:
            return None
        # A REPEATED field is an ARRAY, not the scalar type it holds.
        return {f.name.lower(): "ARRAY" if f.mode == "REPEATED" else f.field_type for f in found.schema}

    def create_schema(self, schema: str) -> None:
        dataset = self._bq.Dataset(self._ref(schema))
        if self.location:
            dataset.location = self.location
        made = self._api(f"create dataset {schema}", self.client.create_dataset, dataset, exists_ok=True)
        # exists_ok hands back a dataset made earlier, perhaps in another region,
        # where every query of this run (sent to `location`) would fail to find it.
        if self.location and made.location and made.location.lower() != self.location.lower():
            raise ConfigError(
                f"Dataset {schema} already exists in {made.location}, but the connection's location is "
                f"{self.location}. Use location={made.location} or another --schema."
            )

    def drop_table(self, table: exp.Table) -> None:
        self._api(f"drop {table.sql()}", self.client.delete_table, self._ref(table.db, table.name), not_found_ok=True)

    def replace_table(self, final: exp.Table, staging: exp.Table) -> None:
        """Swap a finished staging table in, atomically per table.

        A copy job (WRITE_TRUNCATE) is metadata-only on BigQuery: free and
        quick. It is used when the final table is absent, or has exactly the
        staging table's schema and no partitioning or clustering, so a copy
        changes nothing but the rows. Otherwise (--depth changed the flow
        table's columns, or someone partitioned a table) CREATE OR REPLACE
        TABLE ... AS SELECT rebuilds it, which is also atomic but bills a scan
        of the staging table. ALTER TABLE RENAME is not used: BigQuery cannot
        rename onto an existing table, so it would need a DROP first and leave
        a moment with no table at all.
        """
        source = self._api(f"read {staging.sql()}", self.client.get_table, self._ref(staging.db, staging.name))
        try:
            target = self.client.get_table(self._ref(final.db, final.name), **self._catalog_options())
        except self._exc.NotFound:
            target = None
        if target is None or (
            _schema_of(target) == _schema_of(source)
            and not (target.time_partitioning or target.range_partitioning or target.clustering_fields)
        ):
            config = self._bq.CopyJobConfig(write_disposition="WRITE_TRUNCATE")
            job = self._api(
                f"copy {staging.sql()} to {final.sql()}",
                self.client.copy_table,
                self._ref(staging.db, staging.name),
                self._ref(final.db, final.name),
                job_config=config,
            )
            self._api(f"copy {staging.sql()} to {final.sql()}", job.result)
            return
        self.execute(f"CREATE OR REPLACE TABLE {self.sql(final)} AS SELECT * FROM {self.sql(staging)}")


def _schema_of(table: Any) -> list[tuple[str, str, str]]:
    return [(f.name, f.field_type, f.mode) for f in table.schema]


def _credentials(spec: ConnectionSpec) -> tuple[Any, str | None]:
    """(credentials, their default project): the key file if one is named, else ADC."""
    keyfile = spec.params.get("keyfile") or spec.secret("keyfile")
    if keyfile:
        service_account = import_driver("google.oauth2.service_account", "bigquery")
        path = os.path.expanduser(keyfile)
        if not os.path.isfile(path):
            raise ConnectionError_(f"BigQuery key file {keyfile} does not exist.")
        try:
            creds = service_account.Credentials.from_service_account_file(
                path, scopes=["https://www.googleapis.com/auth/cloud-platform"]
            )
        except (ValueError, KeyError) as err:
            # The message names missing fields, never their values.
            raise ConnectionError_(
                f"BigQuery key file {keyfile} is not a service-account JSON key ({type(err).__name__}: "
                f"{first_line(err)[:200]}). Download one from IAM > Service accounts > Keys."
            ) from None
        return creds, creds.project_id
    google_auth = import_driver("google.auth", "bigquery")
    auth_exceptions = import_driver("google.auth.exceptions", "bigquery")
    try:
        return google_auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    except auth_exceptions.DefaultCredentialsError:
        raise ConnectionError_(
            "No Google credentials found for BigQuery. Run `gcloud auth application-default login`, set "
            "GOOGLE_APPLICATION_CREDENTIALS to a service-account key file, or add keyfile=/path/key.json "
            "to the connection URL."
        ) from None


def _api_message(err: Any) -> str:
    """Google's own message, without the request URL or job id lines."""
    message = getattr(err, "message", None) or str(err)
    return first_line(Exception(message))
