"""Stage templates -> SQL for a dialect.

Jinja renders a stage in the canonical dialect; the result is parsed at once,
so a template mistake is reported against the template that made it, and then
handed to the dialect's transforms and generator.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import jinja2
import sqlglot
from sqlglot import exp

from journey_sql.core.errors import TemplateError
from journey_sql.core.stages import EVENTS, PLAN_STAGES, SEMANTICS_VERSION, STAGES, Stage
from journey_sql.dialects.dialect import CANONICAL, Dialect
from journey_sql.settings.options import Settings

_PACKAGE = Path(__file__).resolve().parents[1]  # journey_sql/


def template_dir() -> Path:
    """Installed wheels carry the templates inside the package; a source checkout keeps them at the top."""
    for candidate in (_PACKAGE / "templates", _PACKAGE.parent / "templates"):
        if (candidate / f"{STAGES[0].name}.sql.j2").is_file():
            return candidate
    raise TemplateError(
        f"journey-sql's stage templates are missing (looked in {_PACKAGE / 'templates'}). Reinstall journey-sql."
    )


@lru_cache(maxsize=1)
def template_environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


@dataclass(frozen=True)
class Relations:
    """Where the source is read from and where each stage's table is written."""

    source: exp.Expression  # a table, or a derived table over several (journey_sql/settings/sources.py)
    tables: dict[str, exp.Table]
    # What the stages read in place of `source` when the engine would not find
    # it by its plain name (the executor sets it from the catalog's spelling).
    real_source: exp.Expression | None = None

    def source_node(self) -> exp.Expression:
        """The source as a FROM item: the plain table, or the real one (a quoted table or a derived table)."""
        if self.real_source is None:
            return self.source
        if isinstance(self.real_source, exp.Table):
            return self.real_source.copy()
        return exp.Subquery(this=self.real_source.copy())

    @classmethod
    def for_settings(cls, settings: Settings, suffix: str = "") -> Relations:
        return cls(
            source=settings.sources.relation(),
            tables={s.name: exp.table_(s.name + suffix, db=settings.schema) for s in PLAN_STAGES},
        )


def render_template(stage: Stage, settings: Settings, relations: Relations) -> str:
    """The stage's SELECT in the canonical dialect, exactly as Jinja renders it."""
    try:
        template = template_environment().get_template(stage.template)
        return template.render(
            source=relations.source.sql(CANONICAL),
            relations={name: table.sql(CANONICAL) for name, table in relations.tables.items()},
            timeout_us=settings.timeout_us,
            depth=settings.depth,
            count_events=[(column, f":count_event_{i}") for i, column in enumerate(settings.count_columns)],
            lookback_seconds=settings.lookback_seconds,
            semantics_version=SEMANTICS_VERSION,
        )
    except jinja2.TemplateError as err:
        raise TemplateError(f"Template {stage.template} failed to render: {err}") from err


def stage_params(settings: Settings) -> dict[str, str]:
    """Values for the :name placeholders the templates leave for user-given strings."""
    params = {f"count_event_{i}": name for i, name in enumerate(settings.count_events)}
    params.update({f"state_{key}": value for key, value in state_values(settings).items()})
    return params


def state_values(settings: Settings) -> dict[str, str]:
    """The strings jsql_state records about the settings (the numbers are written into its template)."""
    from journey_sql import __version__

    return {
        "journey_sql_version": __version__,
        "count_events": json.dumps(list(settings.count_events), ensure_ascii=False),
        # a fingerprint of the source as the stages read it (tables, layout, column mapping)
        "source_hash": hashlib.sha256(settings.sources.relation().sql(CANONICAL).encode()).hexdigest()[:16],
    }


def bind(tree: exp.Expression, params: dict[str, str], template: str) -> exp.Expression:
    """Replace each :name placeholder with a string literal node.

    User-given strings (event names) never pass through SQL text: the template
    holds a placeholder, and the value enters the tree as a literal that each
    dialect's generator quotes and escapes its own way."""

    def visit(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Placeholder):
            if node.name not in params:
                raise TemplateError(f"Template {template} uses :{node.name}, which has no value.")
            return exp.Literal.string(params[node.name])
        return node

    return tree.transform(visit)


def parse_canonical(sql: str, template: str) -> exp.Expression:
    try:
        tree = sqlglot.parse_one(sql, read=CANONICAL)
    except sqlglot.errors.ParseError as err:
        raise TemplateError(f"Template {template} rendered SQL that does not parse: {err}") from err
    assert isinstance(tree, exp.Expression)  # sqlglot types parse_one() as its base class
    return tree


def stage_select(
    stage: Stage,
    settings: Settings,
    dialect: Dialect,
    relations: Relations,
    wrap: Callable[[exp.Expression], exp.Expression] | None = None,
) -> exp.Expression:
    """The stage's SELECT as a tree, already transformed for `dialect`.

    `wrap` takes the canonical tree before the dialect's transforms (the
    incremental build keeps only some rows of a stage this way)."""
    tree = parse_canonical(render_template(stage, settings, relations), stage.template)
    tree = bind(tree, stage_params(settings), stage.template)
    if wrap is not None:
        tree = wrap(tree)
    tree = dialect.transpile(tree)
    if relations.real_source is not None:
        tree = _read_real_source(tree, relations)
    return tree


def _read_real_source(tree: exp.Expression, relations: Relations) -> exp.Expression:
    """Point every read of the source at its real spelling (after the transforms, which unquote names)."""
    assert isinstance(relations.source, exp.Table)  # only a plain table has another real spelling
    wanted = (relations.source.db.lower(), relations.source.name.lower())
    for table in list(tree.find_all(exp.Table)):
        if (table.db.lower(), table.name.lower()) == wanted:
            node = relations.source_node()
            node.set("alias", table.args.get("alias"))
            table.replace(node)
    return tree


def source_stats_select(dialect: Dialect, relations: Relations) -> exp.Expression:
    """The query that counts the source and what the stages leave out, by reason, from the events table."""
    template = "_source_stats.sql.j2"
    try:
        sql = template_environment().get_template(template).render(events=relations.tables[EVENTS.name].sql(CANONICAL))
        tree = sqlglot.parse_one(sql, read=CANONICAL)
    except (jinja2.TemplateError, sqlglot.errors.ParseError) as err:
        raise TemplateError(f"Template {template} failed to render: {err}") from err
    assert isinstance(tree, exp.Expression)  # sqlglot types parse_one() as its base class
    return dialect.transpile(tree)


def check_names(settings: Settings, dialect: Dialect) -> None:
    """Reject, with the reason, any name that would not work unquoted on `dialect` (before any SQL)."""
    from journey_sql.dialects.names import check_settings_names

    check_settings_names(settings, dialect.name, dialect.sqlglot_name)


def create_schema_sql(schema: str, dialect: Dialect) -> str:
    """CREATE SCHEMA IF NOT EXISTS, the name unquoted like every other (see dialects/names.py)."""
    create = exp.Create(this=exp.Table(this=exp.to_identifier(schema, quoted=False)), kind="SCHEMA", exists=True)
    return dialect.generate(create, pretty=False)
