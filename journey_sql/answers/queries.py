"""How every answer is asked: a template rendered, bound and transpiled for the connection, then run.

The SQL is a template in the canonical dialect (templates/paths.sql.j2,
templates/funnel.sql.j2), transpiled like the stages, so it runs on any
connection `apply` supports; only aggregates come back. Event names given by
the user enter the tree as string literals (placeholders bound by
`render.bind`), never as SQL text.
"""

from __future__ import annotations

from typing import Any

import jinja2

from journey_sql.compile.templates import Relations, bind, parse_canonical, template_environment
from journey_sql.core.errors import JourneyError, TemplateError, first_line, is_interrupt
from journey_sql.dialects.dialect import Dialect
from journey_sql.settings.options import Settings


def render_query(template: str, settings: Settings, dialect: Dialect, params: dict[str, str], **context: Any) -> str:
    """One of the analysis templates as SQL text in `dialect`."""
    relations = Relations.for_settings(settings)
    try:
        text = (
            template_environment()
            .get_template(template)
            .render(relations={name: t.sql("duckdb") for name, t in relations.tables.items()}, **context)
        )
    except jinja2.TemplateError as err:
        raise TemplateError(f"Template {template} failed to render: {err}") from err
    tree = dialect.transpile(bind(parse_canonical(text, template), params, template))
    return dialect.generate(tree)


def run_query(engine: Any, sql: str, what: str, settings: Settings) -> list[tuple[Any, ...]]:

    try:
        return [tuple(row) for row in engine.query(sql)]
    except JourneyError:
        raise
    except Exception as err:  # the driver's own error type differs per engine
        if is_interrupt(err):  # Ctrl-C reached the driver first: treat it as Ctrl-C
            raise KeyboardInterrupt from err
        raise JourneyError(
            f"The {what} query failed on {engine.describe()}: {first_line(err)}. "
            f"Build the tables first with `journey-sql apply --schema {settings.schema}` (same connection)."
        ) from err


# -- paths ----------------------------------------------------------------------


# -- funnel ---------------------------------------------------------------------


# -- event names that occur nowhere ----------------------------------------------
