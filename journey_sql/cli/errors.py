"""Every failure ends in one line: library errors as they are, anything else as its first line with how to
see the traceback (`--debug`), secrets masked; Ctrl-C exits 130."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

import click

from journey_sql.api import JourneyError
from journey_sql.cli.options import origin


def friendly_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except JourneyError as err:
            raise one_line_error(str(err), getattr(err, "exit_code", 1)) from err

    return wrapper


class _JourneyException(click.ClickException):
    """A one-line error (secrets masked) with the exit code the error asks for."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # click declares it on the class; per error here


def one_line_error(message: str, exit_code: int = 1) -> click.ClickException:
    from journey_sql.api import scrub

    return _JourneyException(scrub(" ".join(message.split())), exit_code)


class JourneyGroup(click.Group):
    """The safety net: whatever escapes a command ends in one line and a non-zero exit, never a traceback.

    JourneyErrors are already one line that says what to do. Anything else is a
    bug or a driver error nobody anticipated: its first line is shown, secrets
    masked, with how to see the traceback (`journey-sql --debug ...`). Ctrl-C
    exits 130 saying what it left behind.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.BadParameter as err:
            # a value from the environment or journey-sql.toml: name that, not the flag nobody typed
            where = origin(err.ctx, err.param.name) if err.ctx is not None and err.param and err.param.name else None
            if where is not None:
                err.param_hint = where
            raise
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except JourneyError as err:
            raise one_line_error(str(err), getattr(err, "exit_code", 1)) from err
        except KeyboardInterrupt:
            # (a run interrupted while building says itself what it left: InterruptedRun)
            if _debug(ctx):
                _print_traceback()
            where = " before any table was changed" if ctx.invoked_subcommand == "apply" else ""
            raise one_line_error(f"Interrupted (Ctrl-C){where}.", exit_code=INTERRUPTED_EXIT_CODE) from None
        except Exception as err:
            if _debug(ctx):
                _print_traceback()
                raise one_line_error(f"journey-sql failed: {_first_line(err)}.") from None
            command = ctx.invoked_subcommand or "<command>"
            raise one_line_error(
                f"journey-sql failed: {_first_line(err)}. Run again as `journey-sql --debug {command} ...` "
                "for the traceback."
            ) from None


INTERRUPTED_EXIT_CODE = 130


def _first_line(err: BaseException) -> str:
    from journey_sql.api import first_line

    return f"{type(err).__name__}: {first_line(err)}".rstrip(".")


def _debug(ctx: click.Context) -> bool:
    return bool((ctx.obj or {}).get("debug"))


def _print_traceback() -> None:
    import traceback

    from journey_sql.api import scrub

    click.echo(scrub(traceback.format_exc()), err=True, nl=False)
