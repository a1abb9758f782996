"""Amazon Redshift, through redshift_connector.

URL: redshift://USER@HOST:5439/DATABASE[?ssl=false&timeout=30]. The password
comes from a dbt profile, else REDSHIFT_PASSWORD, else JOURNEY_SQL_PASSWORD.

URL parameters handed to redshift_connector.connect (anything else is refused,
so a typo does not pass silently):
  ssl, sslmode, timeout, application_name, tcp_keepalive, max_prepared_statements,
  and for IAM authentication iam=true with cluster_identifier, region, db_user,
  db_groups (comma-separated), auto_create, profile (an AWS credentials profile),
  is_serverless, serverless_acct_id, serverless_work_group. dbt-redshift's
  names cluster_id, iam_profile and autocreate are accepted as well.
With iam=true no password is sent; AWS credentials come from `profile` or the
usual AWS environment variables and files.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from journey_sql.core.errors import ConfigError, ConnectionError_
from journey_sql.engines.base import import_driver
from journey_sql.engines.postgres import PostgresFamily
from journey_sql.engines.spec import ConnectionSpec, redact_secrets

DEFAULT_PORT = 5439


def _flag(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(value)


def _names(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


# URL parameter -> how to turn its text into what redshift_connector expects
PARAMS: dict[str, Callable[[str], Any]] = {
    "ssl": _flag,
    "sslmode": str,
    "timeout": int,
    "application_name": str,
    "tcp_keepalive": _flag,
    "max_prepared_statements": int,
    "iam": _flag,
    "cluster_identifier": str,
    "region": str,
    "db_user": str,
    "db_groups": _names,
    "auto_create": _flag,
    "profile": str,
    "is_serverless": _flag,
    "serverless_acct_id": str,
    "serverless_work_group": str,
}


# dbt-redshift's profile names for the same settings
ALIASES = {"cluster_id": "cluster_identifier", "iam_profile": "profile", "autocreate": "auto_create"}


def driver_message(err: BaseException) -> str:
    """redshift_connector puts the server's error fields in a dict; say it the way psql would."""
    first = err.args[0] if err.args else None
    if isinstance(first, dict):
        text = str(first.get("M", first))
        if first.get("D"):
            text += f" ({first['D']})"
        if first.get("C"):
            text += f" [SQLSTATE {first['C']}]"
        return text
    return " ".join(str(a) for a in err.args) or type(err).__name__


SECRET_PARAMS = ("password", "access_key_id", "secret_access_key", "session_token", "client_secret")


def connect_options(spec: ConnectionSpec) -> dict[str, Any]:
    """Keyword arguments for redshift_connector.connect from the URL's parameters."""
    options: dict[str, Any] = {}
    # Messages name the parameter, never the URL: it may hold a secret.
    secret = [key for key in spec.params if key in SECRET_PARAMS]
    if secret:
        raise ConfigError(
            f"Put no {secret[0]} in the connection URL: set REDSHIFT_PASSWORD or JOURNEY_SQL_PASSWORD, or use "
            "?iam=true with an AWS profile or the usual AWS environment variables."
        )
    for given, text in spec.params.items():
        key = ALIASES.get(given, given)
        convert = PARAMS.get(key)
        if convert is None:
            raise ConfigError(f"Unknown Redshift connection parameter {given!r}. Supported: {', '.join(PARAMS)}.")
        try:
            options[key] = convert(text)
        except ValueError:
            raise ConfigError(f"Redshift connection parameter {given}={text!r} is not valid.") from None
    return options


class RedshiftEngine(PostgresFamily):
    scheme = "redshift"
    title = "Redshift"
    example = "redshift://USER@HOST:5439/DATABASE"
    dbt_types = ("redshift",)
    default_port = DEFAULT_PORT
    dialect_name = "redshift"

    def __init__(self, spec: ConnectionSpec, con: Any, driver: Any) -> None:
        super().__init__(spec, con)
        self.driver = driver

    @classmethod
    def profile_params(cls, o: dict[str, Any]) -> dict[str, Any]:
        if o.get("method") == "iam":
            return {"iam": "true", "cluster_id": o.get("cluster_id"), "region": o.get("region")}
        return {}

    @classmethod
    def connect(cls, spec: ConnectionSpec, **_: Any) -> RedshiftEngine:
        driver = import_driver("redshift_connector", "redshift")
        options = connect_options(spec)
        password = None if options.get("iam") else spec.secret("password", env="REDSHIFT_PASSWORD")
        kwargs: dict[str, Any] = {
            "host": spec.host,
            "port": spec.port or DEFAULT_PORT,
            "database": spec.path or None,
            "user": spec.user,
            "application_name": "journey-sql",
            **options,
        }
        if password is not None:
            kwargs["password"] = password
        try:
            con = driver.connect(**kwargs)
            # Autocommit: catalog checks and CREATE SCHEMA stand alone; the
            # executor's begin() sends the BEGIN the stages run under.
            con.autocommit = True
        except (driver.Error, OSError) as err:
            raise ConnectionError_(
                f"Cannot connect to Redshift at {spec.redacted()}: {redact_secrets(driver_message(err), [password])}. "
                "Check host, port, user and database, and the password (REDSHIFT_PASSWORD or "
                "JOURNEY_SQL_PASSWORD), or use ?iam=true."
            ) from None
        return cls(spec, con, driver)

    def _cursor_error(self, err: Exception) -> Exception:
        if isinstance(err, self.driver.Error):
            # Same error class, readable text: the executor shows str(err).
            return type(err)(driver_message(err))
        return err

    def rollback(self) -> None:
        # Nothing to undo outside a transaction (or after the connection dropped).
        if self.con.in_transaction:
            self.execute("ROLLBACK")
