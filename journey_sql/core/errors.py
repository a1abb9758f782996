"""Exceptions the library raises. Each message says what went wrong and what to do about it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class JourneyError(Exception):
    """Base class: the CLI turns these into a one-paragraph error and a non-zero exit."""


class ConfigError(JourneyError):
    """A setting, flag or configuration file is invalid."""


class SourceError(JourneyError):
    """The source table is missing or does not look like a RudderStack tracks table."""


class ConnectionError_(JourneyError):
    """The connection URL is malformed, or the warehouse could not be reached."""


class MissingDriverError(JourneyError):
    """The optional connector package for a warehouse is not installed."""


class TemplateError(JourneyError):
    """A stage template failed to render or to parse (a bug in journey-sql or a local edit)."""


class StageError(JourneyError):
    """A stage failed while running on the warehouse."""

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(message)
        self.stage = stage


class InterruptedRun(JourneyError):
    """Ctrl-C during a run; the message says which tables, if any, changed. Exits 130 like any interrupted program."""

    exit_code = 130


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A ' Did you mean ...?' suffix for an unknown name, or '' when nothing is close."""
    matches = difflib.get_close_matches(word.lower(), list(choices), n=1, cutoff=0.5)
    return f" Did you mean '{matches[0]}'?" if matches else ""


def first_line(err: BaseException) -> str:
    """A driver error's first line: drivers append stack traces and SQL that bury the message."""
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0]


def is_interrupt(err: BaseException) -> bool:
    """A driver's own report of Ctrl-C: DuckDB raises InterruptException ("Query interrupted") when
    SIGINT arrives while it runs a query, instead of letting KeyboardInterrupt through."""
    return type(err).__name__ == "InterruptException" or "query interrupted" in str(err).lower()


def resource_hint(err: BaseException) -> str:
    """What to do about the errors that have a known remedy."""
    text = str(err).lower()
    if "out of memory" in text or "memory limit" in text:
        return " Raise --memory-limit (or JOURNEY_SQL_MEMORY_LIMIT), or give the warehouse more memory."
    if "serializable isolation violation" in text:  # Redshift: no advisory locks, concurrent writers collide
        return " Another transaction (another journey-sql run?) changed these tables at the same time; run again."
    return ""
