"""The `journey-sql` group: the global options, journey-sql.toml as every command's defaults, and `main`."""

from __future__ import annotations

import click

from journey_sql import __version__
from journey_sql.cli import answers, build
from journey_sql.cli.errors import JourneyGroup, friendly_errors
from journey_sql.cli.options import env


@click.group(cls=JourneyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="journey-sql")
@click.option(
    "--debug",
    is_flag=True,
    envvar=env("debug"),
    help="On an unexpected error, print the traceback (secrets masked) instead of one line.",
)
@click.pass_context
@friendly_errors
def cli(ctx: click.Context, debug: bool) -> None:
    """Customer-journey tables from RudderStack tracks, the same on every warehouse.

    Options can also come from JOURNEY_SQL_<OPTION> environment variables and a
    journey-sql.toml file in the working directory (flags win over the
    environment, the environment over the file).
    """
    from journey_sql.api import default_map, load_config

    assert isinstance(ctx.command, click.Group)
    ctx.obj = {"debug": debug}
    ctx.default_map = default_map(ctx.command.commands, load_config())


for command in (*build.COMMANDS, *answers.COMMANDS):
    cli.add_command(command)


def main() -> None:
    import sys

    try:
        cli(prog_name="journey-sql")
    except BrokenPipeError:  # click could not print its own error: the stream had no reader left
        from journey_sql.cli.output import drop_closed_stream

        drop_closed_stream(sys.stdout)
        drop_closed_stream(sys.stderr)
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
