"""Snowflake, through snowflake-connector-python (`pip install 'journey-sql[snowflake]'`).

Connection URL::

    snowflake://USER@ACCOUNT/DATABASE?warehouse=WH&role=ROLE

ACCOUNT is the account identifier (``myorg-myaccount`` or ``xy12345.eu-west-1``;
a trailing ``.snowflakecomputing.com`` is ignored). DATABASE may be followed by
``/SCHEMA``; the session schema does not matter to journey-sql, which always
names ``--source-schema`` and ``--schema``. Query parameters:

``warehouse``, ``role``, ``schema``
    As in Snowflake.
``authenticator``
    Passed to the connector as is: ``externalbrowser`` (SSO in a browser),
    ``username_password_mfa``, ``oauth`` (token from SNOWFLAKE_TOKEN or
    JOURNEY_SQL_TOKEN), ``snowflake_jwt``...
``private_key_file``
    Key-pair authentication with this PKCS#8 key file; its passphrase, if any,
    from PRIVATE_KEY_PASSPHRASE or JOURNEY_SQL_PRIVATE_KEY_FILE_PWD.
``connection_name``
    A connection in ``~/.snowflake/connections.toml`` (read by the connector);
    anything the URL also says overrides it, so ``snowflake:///?connection_name=dev``
    is enough.
``login_timeout``
    Seconds to wait for login (the connector's default is 120).
``host``, ``port``, ``protocol``
    Where to connect instead of ``ACCOUNT.snowflakecomputing.com:443`` over
    https: a PrivateLink host, a proxy, or a local stand-in. ACCOUNT still
    names the account.

The password comes from SNOWFLAKE_PASSWORD or JOURNEY_SQL_PASSWORD, never from
the URL. One of a password, a key file, an authenticator or a connection name
is required. Error messages never contain a secret.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlglot import exp

from journey_sql.core.errors import ConfigError, ConnectionError_, did_you_mean, first_line
from journey_sql.engines.base import DBAPIEngine, import_driver, profile_pick, profile_query
from journey_sql.engines.spec import ConnectionSpec, redact_secrets

PARAMS = (
    "warehouse",
    "role",
    "schema",
    "authenticator",
    "private_key_file",
    "connection_name",
    "login_timeout",
    "host",
    "port",
    "protocol",
)
ACCOUNT_SUFFIX = ".snowflakecomputing.com"
# Where replace_table parks the previous table while the new one takes its name.
OLD_SUFFIX = "__jsql_old"
# The connector's errno for "SQL compilation error: syntax error".
SYNTAX_ERROR = 1003


def connect_args(spec: ConnectionSpec) -> tuple[dict[str, Any], list[str]]:
    """The connector's keyword arguments for `spec`, and the secrets among them (to scrub from errors)."""
    unknown = [k for k in spec.params if k not in PARAMS]
    if unknown:
        raise ConfigError(
            f"Unknown Snowflake connection parameter {unknown[0]!r}.{did_you_mean(unknown[0], PARAMS)} "
            f"Supported: {', '.join(PARAMS)}."
        )
    params = spec.params
    database, _, path_schema = spec.path.partition("/")
    args: dict[str, Any] = {
        "account": _account(spec.host),
        "user": spec.user,
        "database": database or None,
        "schema": params.get("schema") or path_schema or None,
        "warehouse": params.get("warehouse"),
        "role": params.get("role"),
        "authenticator": params.get("authenticator"),
        "connection_name": params.get("connection_name"),
        # Lets an administrator find journey-sql's queries in QUERY_HISTORY.
        "session_parameters": {"QUERY_TAG": "journey-sql"},
    }
    if params.get("login_timeout"):
        try:
            args["login_timeout"] = int(params["login_timeout"])
        except ValueError:
            raise ConfigError(f"login_timeout must be whole seconds, got {params['login_timeout']!r}.") from None
    # A private endpoint (PrivateLink, a proxy, a local stand-in): where to
    # connect, while ACCOUNT still names the account.
    if params.get("host"):
        args["host"] = params["host"]
    if params.get("port"):
        try:
            args["port"] = int(params["port"])
        except ValueError:
            raise ConfigError(f"port must be a whole number, got {params['port']!r}.") from None
    if params.get("protocol"):
        if params["protocol"] not in ("https", "http"):
            raise ConfigError(f"protocol must be https or http, got {params['protocol']!r}.")
        args["protocol"] = params["protocol"]
    secrets: list[str] = []
    key_file = params.get("private_key_file")
    if key_file:
        path = Path(key_file).expanduser()
        if not path.is_file():
            raise ConfigError(f"Snowflake private_key_file {key_file!r} does not exist or is not a file.")
        args["private_key_file"] = str(path)
        passphrase = spec.secret("private_key_file_pwd", env="PRIVATE_KEY_PASSPHRASE")
        if passphrase:
            args["private_key_file_pwd"] = passphrase
            secrets.append(passphrase)
    else:
        # With a key file the password is not used: a JOURNEY_SQL_PASSWORD set
        # for another warehouse must not change how this one authenticates.
        password = spec.secret("password", env="SNOWFLAKE_PASSWORD")
        if password:
            args["password"] = password
            secrets.append(password)
    if (args["authenticator"] or "").lower() == "oauth":
        token = spec.secret("token", env="SNOWFLAKE_TOKEN")
        if token:
            args["token"] = token
            secrets.append(token)
    if not (secrets or key_file or args["authenticator"] or args["connection_name"]):
        raise ConfigError(
            f"No Snowflake credentials for {spec.redacted()}: set SNOWFLAKE_PASSWORD (or JOURNEY_SQL_PASSWORD), "
            "or add ?private_key_file=PATH, ?authenticator=externalbrowser or ?connection_name=NAME "
            "(from ~/.snowflake/connections.toml) to the URL."
        )
    if not args["connection_name"]:
        # The catalog queries read the current database's information_schema.
        missing = [what for what, value in (("ACCOUNT", args["account"]), ("DATABASE", database)) if not value]
        if missing:
            raise ConfigError(
                f"Snowflake connection {spec.redacted()} lacks {' and '.join(missing)}: "
                "snowflake://USER@ACCOUNT/DATABASE?warehouse=WH&role=ROLE."
            )
    return {k: v for k, v in args.items() if v is not None}, secrets


def _account(host: str | None) -> str | None:
    if host and host.lower().endswith(ACCOUNT_SUFFIX):
        return host[: -len(ACCOUNT_SUFFIX)]
    return host


class SnowflakeEngine(DBAPIEngine):
    scheme = "snowflake"
    title = "Snowflake"
    example = "snowflake://USER@ACCOUNT/DATABASE?warehouse=WH&role=ROLE"
    dbt_types = ("snowflake",)
    dialect_name = "snowflake"
    replace_strategy = "rename_aside"
    cheap_source_count = True
    # Snowflake commits every DDL statement on its own (a CREATE inside BEGIN
    # ends the transaction), so a failed run cannot be rolled back: tables are
    # built under staging names and swapped in at the end.
    transactional_ddl = False
    # Unquoted names are upper-cased: a source created with quoted lower-case
    # names ("tracks", "id") is read by those real names.
    case_fold = "upper"

    @classmethod
    def from_dbt_profile(cls, o: dict[str, Any]) -> tuple[str, dict[str, str]]:
        params = {
            "warehouse": o.get("warehouse"),
            "role": o.get("role"),
            "authenticator": o.get("authenticator"),
            "private_key_file": o.get("private_key_path"),
        }
        secrets = profile_pick(o, "password", "token")
        if o.get("private_key_passphrase"):
            secrets["private_key_file_pwd"] = str(o["private_key_passphrase"])
        url = f"snowflake://{quote(str(o.get('user', '')))}@{o.get('account', '')}/{o.get('database', '')}"
        return url + profile_query(params), secrets

    @classmethod
    def connect(cls, spec: ConnectionSpec, **_: Any) -> SnowflakeEngine:
        args, secrets = connect_args(spec)
        sf = import_driver("snowflake.connector", "snowflake")
        try:
            # Looked up on the module at call time, so test doubles that patch
            # snowflake.connector.connect (fakesnow) are picked up.
            con = sf.connect(**args)
        except Exception as err:  # noqa: BLE001 - the connector raises its own errors and plain OSError/ValueError alike
            first = first_line(err)
            raise ConnectionError_(
                f"Cannot connect to Snowflake {spec.redacted()}: {redact_secrets(first, secrets)}. Check the account, "
                "user, credentials, role and warehouse."
            ) from None
        engine = cls(spec, con)
        if "database" not in args:
            engine._require_database()  # it came from connections.toml, or from nowhere
        return engine

    def _require_database(self) -> None:
        # The catalog queries read the current database's information_schema.
        if self.query("SELECT CURRENT_DATABASE()")[0][0] is None:
            self.close()
            raise ConfigError(
                f"Snowflake connection {self.spec.redacted()} has no database: add /DATABASE to the URL "
                "(snowflake://USER@ACCOUNT/DATABASE) or database = ... to the named connection."
            )

    def explain(self, sql: str) -> str | None:
        sf = import_driver("snowflake.connector", "snowflake")
        try:
            rows = self.query(f"EXPLAIN USING TEXT {sql}")
        except sf.errors.ProgrammingError as err:
            # A syntax error: either the engine does not know EXPLAIN USING
            # TEXT (a stand-in such as fakesnow) or `sql` itself is wrong, which
            # the stage reports when it runs right after. Anything else is real.
            if getattr(err, "errno", None) == SYNTAX_ERROR:
                return None
            raise
        return "\n".join(str(row[0]) for row in rows)

    def replace_table(self, final: exp.Table, staging: exp.Table) -> None:
        """Rename the old table aside, the new one into place, then drop the old one.

        Snowflake's atomic `ALTER TABLE final SWAP WITH staging` is not
        understood by fakesnow, which the tests run on, and
        `CREATE OR REPLACE TABLE final CLONE staging` fails there when final
        exists; a copy (`CREATE OR REPLACE ... AS SELECT`) would rewrite every
        table. Renames are metadata-only and behave the same on both. The
        previous table is never dropped before the new one has its name: if the
        second rename fails, the first is undone. Readers may see no table
        for the instant between the two renames.
        """
        old = exp.table_(final.name + OLD_SUFFIX, db=final.db or None, catalog=final.catalog or None)
        # Left by a run that died between the two renames; superseded now (and
        # recoverable with UNDROP TABLE for the Time Travel retention period).
        self.drop_table(old)
        self.execute(f"ALTER TABLE IF EXISTS {self.sql(final)} RENAME TO {self.sql(old)}")
        try:
            # Qualified: Snowflake resolves an unqualified new name in the
            # session's current schema, which would move the table.
            self.execute(f"ALTER TABLE {self.sql(staging)} RENAME TO {self.sql(final)}")
        except Exception:
            # The rename's own error is the one to report, not a failed undo.
            with contextlib.suppress(Exception):
                self.execute(f"ALTER TABLE IF EXISTS {self.sql(old)} RENAME TO {self.sql(final)}")
            raise
        self.drop_table(old)
