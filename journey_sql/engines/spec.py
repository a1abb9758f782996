"""A parsed connection: which engine, where, and the secrets handed over beside the URL (never in it)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from journey_sql.core.redact import redact_tokens, redact_urls


@dataclass(frozen=True)
class ConnectionSpec:
    scheme: str
    user: str | None = None
    host: str | None = None
    port: int | None = None
    path: str = ""  # database, file path or HTTP path, without the leading slash
    params: dict[str, str] = field(default_factory=dict)
    url: str = ""
    # Passwords, tokens, key files handed over by a dbt profile; never printed.
    secrets: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def secret(self, name: str, env: str | None = None) -> str | None:
        """A secret from the profile, else the named environment variable, else JOURNEY_SQL_<NAME>."""
        if name in self.secrets:
            return self.secrets[name]
        if env and os.environ.get(env):
            return os.environ[env]
        return os.environ.get(f"JOURNEY_SQL_{name.upper()}")

    def redacted(self) -> str:
        """The URL as it may be printed: without any password someone put in it anyway."""
        return redact_url(self.url)


def redact_secrets(text: str, secrets: Sequence[str | None]) -> str:
    """Driver messages should never echo a secret, but make sure of it (whole tokens only)."""
    return redact_tokens(text, secrets)


def redact_url(url: str) -> str:
    """The URL as written, with any password and secret-looking query values masked."""
    return redact_urls(url)
