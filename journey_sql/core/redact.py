"""Keeping secrets out of everything journey-sql prints: errors, log lines, plans, tracebacks.

Two passes, both applied by `scrub()`:

* **URL-like text.** Anything shaped like `[scheme:][//]user:PASSWORD@host` has
  its password masked, however malformed the rest is (`postgres:S3cret@host`,
  `postgresql:/user:S3cret@host`, `duckdb://user:S3cret@host` all end as
  `...:***@host`), and query values whose key names a secret (`password=`,
  `token=`, ...) are masked. Everything else is left exactly as written, so a
  URL is shown the way the user typed it (`duckdb:////tmp/x.duckdb` stays so).
* **Known secrets.** Every password and token journey-sql could have been given
  (the warehouses' own variables, JOURNEY_SQL_*, a dbt profile's secrets) is
  replaced where it stands as a whole token, never inside a longer word: with
  the password `post`, `user "postgres"` is printed unchanged, while
  `password "post"` becomes `password "***"`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

MASK = "***"

# Environment variables that hold a secret some engine reads.
SECRET_ENV_VARS = (
    "JOURNEY_SQL_PASSWORD",
    "JOURNEY_SQL_TOKEN",
    "JOURNEY_SQL_PRIVATE_KEY_FILE_PWD",
    "PGPASSWORD",
    "REDSHIFT_PASSWORD",
    "SNOWFLAKE_PASSWORD",
    "SNOWFLAKE_TOKEN",
    "PRIVATE_KEY_PASSPHRASE",
    "DATABRICKS_TOKEN",
    # read by the AWS SDK for Redshift's iam=true
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
)

# Query-parameter keys whose values are secrets (a key *file* is a path, not a secret).
_SECRET_KEY = re.compile(r"password|passwd|pass$|pwd|secret|token|passphrase|credential|^key$|_key$", re.I)
_NOT_SECRET_KEYS = frozenset({"private_key_file", "keyfile", "key_file"})

# A run of characters that can belong to a URL: no whitespace, quotes or brackets around it.
_URLISH = re.compile(r"""[^\s'"<>()\[\]{},;`]*@[^\s'"<>()\[\]{},;`]*""")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_QUERY_PAIR = re.compile(r"""(?P<key>[A-Za-z_][A-Za-z0-9_.\-]*)=(?P<value>[^&\s'"#;,)]*)""")

_registered: set[str] = set()


def register(*secrets: str | None) -> None:
    """Remember secrets handed over in code (a dbt profile's password) so every later message is scrubbed of them."""
    for secret in secrets:
        if secret:
            _registered.add(secret)


def known_secrets() -> list[str]:
    """Every secret this process may hold: registered ones and the secret environment variables."""
    found = set(_registered)
    found.update(v for name in SECRET_ENV_VARS if (v := os.environ.get(name)))
    # longest first, so a secret that contains another is masked whole
    return sorted(found, key=len, reverse=True)


def _mask_userinfo(match: re.Match[str]) -> str:
    word = match.group(0)
    userinfo, at, rest = word.rpartition("@")
    scheme = _SCHEME.match(userinfo)
    prefix = scheme.group(0) if scheme else ""
    body = userinfo[len(prefix) :]
    if ":" in body:  # user:password, or a malformed scheme:password
        user, _, _password = body.partition(":")
        userinfo = f"{prefix}{user}:{MASK}"
    return userinfo + at + rest


def _mask_query_value(match: re.Match[str]) -> str:
    key, value = match.group("key"), match.group("value")
    if value and _SECRET_KEY.search(key) and key.lower() not in _NOT_SECRET_KEYS:
        return f"{key}={MASK}"
    return match.group(0)


def redact_urls(text: str) -> str:
    """Mask the password of anything URL-like and secret-named query values; leave the rest as written."""
    text = _URLISH.sub(_mask_userinfo, text)
    return _QUERY_PAIR.sub(_mask_query_value, text) if "=" in text else text


def redact_tokens(text: str, secrets: Iterable[str | None]) -> str:
    """Replace each secret where it stands as a whole token, never inside a longer word."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        # A boundary is only required on a side where the secret itself ends in
        # a word character: `post` must not match inside `postgres`.
        before = r"(?<![\w])" if re.match(r"\w", secret[0]) else ""
        after = r"(?![\w])" if re.match(r"\w", secret[-1]) else ""
        text = re.sub(before + re.escape(secret) + after, MASK, text)
    return text


def scrub(text: str, extra: Iterable[str | None] = ()) -> str:
    """Text as it may be printed: URL passwords and every known secret masked."""
    return redact_tokens(redact_urls(text), [*known_secrets(), *extra])
