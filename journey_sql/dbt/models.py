"""Each table's SQL as a dbt model: the plan's statements with every table name turned into ref(),
source() or this, split into the segments a full and an incremental run execute."""

from __future__ import annotations

import re
from typing import Any

from sqlglot import exp

from journey_sql import __version__
from journey_sql.compile.incremental import WORK_SUFFIX
from journey_sql.compile.plan import Plan
from journey_sql.core.stages import EVENTS, PLAN_STAGES, STAGES, STATE
from journey_sql.dialects.dialect import Dialect

# The schema the plan is compiled for; no table keeps it: every reference to it becomes Jinja.
PLACEHOLDER_SCHEMA = "jsqldbtschema"


# dbt adapters journey-sql continues incrementally through dbt: verified with the real dbt in the test suite.
INCREMENTAL_ADAPTERS = ("duckdb", "postgres")


# adapters where counting the source is cheap (metadata or columnar), as the engines' cheap_source_count says
CHEAP_COUNT_ADAPTERS = ("duckdb", "snowflake", "bigquery", "databricks", "spark", "clickhouse")


# dbt adapter type per journey-sql dialect (what profiles.yml's `type:` must be)
ADAPTERS = {
    "duckdb": "duckdb",
    "postgres": "postgres",
    "redshift": "redshift",
    "snowflake": "snowflake",
    "bigquery": "bigquery",
    "databricks": "databricks",
    "spark": "spark",
    "clickhouse": "clickhouse",
    "trino": "trino",
    "athena": "athena",
}


MARKER = "jsql_run" + WORK_SUFFIX  # names the dbt invocation whose jsql_events made the work tables


SEPARATOR = "\n-- journey_sql: next statement\n"


_TOKEN = re.compile(r"jsqltok_(ref|rel|this|src|work|self)_(\w+?)_jsqlend")


def model_sql(
    name: str,
    full: Plan,
    script: str | None,
    after: list[str],
    sources: dict[tuple[str, str], str],
    command: str,
) -> str:
    step = full.step(name)
    lines = [
        f"{{# journey-sql {__version__}: {jinja_comment(step.summary)}. Written by `{jinja_comment(command)}`;",
        "   regenerate with the same command and --force rather than edit. The settings are the vars in",
        "   dbt_project.yml, checked by journey_sql_check_settings(); the materialization is set there too. #}",
        "{{ journey_sql_check_settings() }}",
    ]
    if name == STATE.name:
        # the last model of every run: after all the others, so its row says the tables are whole
        lines += [f"-- depends_on: {{{{ ref('{s.name}') }}}}" for s in STAGES]
    # (jsql_events' materialization drops jsql_state and the marker; jsql_state's drops the work tables)
    full_body = jinja_sql(full.dialect.generate(step.select), name, sources, refs="ref", dialect=full.dialect)
    if script is None:
        lines.append(full_body)
        return "\n".join(lines) + "\n"
    lines += [f"-- depends_on: {{{{ ref('{m}') }}}}" for m in after]
    test = "journey_sql_continues_build()" if name == EVENTS.name else "journey_sql_continues_run()"
    lines += [f"{{% if {test} %}}", script, "{% else %}", full_body, "{% endif %}"]
    return "\n".join(lines) + "\n"


def run_order(scripts: dict[str, str], makers: dict[str, str]) -> dict[str, set[str]]:
    """The models each model's incremental statements must run after, beyond the refs of its full SELECT
    (dbt runs independent models in any order, several at once with threads > 1): the makers of the work
    tables it reads, the models before it in the plan whose tables it reads, and for a table of a later
    model it reads as it was, that model must wait for this one."""
    order = [stage.name for stage in PLAN_STAGES]
    after: dict[str, set[str]] = {name: set() for name in order}
    for name, script in scripts.items():
        after[name] |= {makers[w] for w in re.findall(r"journey_sql_work\('(\w+)'\)", script)} - {name}
        for other in set(re.findall(r"journey_sql_relation\('(\w+)'\)", script)) - {name}:
            if order.index(other) < order.index(name):
                after[name].add(other)
            else:
                after[other].add(name)
    return after


def plan_segments(plan: Plan) -> tuple[dict[str, list[str]], dict[str, str]]:
    """The incremental plan's statements by the model that runs them: each work step goes to the model whose
    update comes next in the plan (so it runs before that update, as in `render --incremental`). Also which
    model writes each work table, so a model reading one depends on that model in dbt's DAG."""
    dialect = plan.dialect
    segments: dict[str, list[str]] = {}
    makers: dict[str, str] = {}
    marker = exp.table_(MARKER, db=PLACEHOLDER_SCHEMA)
    marker_select = exp.select(exp.alias_(exp.Literal.string(_INVOCATION), "invocation_id"))
    pending = [dialect.generate(s) for s in dialect.create_table_as(marker, marker_select)]
    made = [MARKER]
    for step in plan.steps:
        if step.kind == "work":
            pending += step.statements
            made.append(step.relation.name)
        elif step.kind == "update":
            segments[step.name] = [*pending, *step.statements]
            makers.update(dict.fromkeys(made, step.name))
            pending, made = [], []
        # "invalidate" steps: jsql_events' materialization drops the state on every engine; the "state" step
        # is jsql_state's model
    assert not pending and plan.steps[-1].kind == "state"
    return segments, makers


def work_tables() -> list[str]:
    """Every work table an incremental run may leave, and the marker: jsql_state's materialization drops them."""
    from journey_sql.compile.incremental import WORK_STAGES

    return [*(s.name + WORK_SUFFIX for s in (*WORK_STAGES, EVENTS, *STAGES)), MARKER]


def run_sql(sql: str, model: str, sources: dict[tuple[str, str], str], dialect: Dialect) -> str:
    return "-- journey_sql: run\n" + jinja_sql(sql, model, sources, refs="rel", dialect=dialect)


def jinja_sql(sql: str, model: str, sources: dict[tuple[str, str], str], refs: str, dialect: Dialect) -> str:
    """SQL compiled for the placeholder schema -> Jinja: tables become ref()/source()/this, the rest stays text
    (escaped where it holds Jinja's own delimiters, as an event name may)."""
    text = _tokenize(sql, model, sources, refs, dialect)
    out: list[str] = []
    pos = 0
    for match in _TOKEN.finditer(text):
        out.append(escape_jinja(text[pos : match.start()]))
        out.append(_token_jinja(match.group(1), match.group(2), sources))
        pos = match.end()
    out.append(escape_jinja(text[pos:]))
    return "".join(out).replace(_INVOCATION, "{{ invocation_id }}")


_INVOCATION = "jsqltok_invocation_jsqlend"


def _tokenize(sql: str, model: str, sources: dict[tuple[str, str], str], refs: str, dialect: Dialect) -> str:
    """Replace each table of the placeholder schema, each source table and the model's own name qualifying a
    column by a token. Names journey-sql wrote itself are plain (unquoted) identifiers; string literals (event
    names) are left alone, found by sqlglot's tokenizer."""
    import sqlglot
    from sqlglot.tokens import TokenType

    literals = [
        (t.start, t.end + 1)
        for t in sqlglot.tokenize(sql, read=dialect.sqlglot_name)
        if t.token_type in (TokenType.STRING, TokenType.NATIONAL_STRING, TokenType.RAW_STRING) and t.text != _INVOCATION
    ]
    names = {s.name for s in PLAN_STAGES}

    def in_literal(pos: int) -> bool:
        return any(start <= pos < end for start, end in literals)

    def table(name: str) -> str:
        if name.lower() == model:
            return f"jsqltok_this_{name}_jsqlend"
        if name.lower() in names:
            return f"jsqltok_{refs}_{name}_jsqlend"
        return f"jsqltok_work_{name}_jsqlend"

    patterns: list[tuple[re.Pattern[str], Any]] = [
        (re.compile(rf"(?<![\w.]){PLACEHOLDER_SCHEMA}\.(\w+)"), lambda m: table(m.group(1)))
    ]
    for (schema, name), key in sources.items():
        token = f"jsqltok_src_{key}_jsqlend"
        pattern = re.compile(rf"(?<![\w.]){re.escape(schema)}\.{re.escape(name)}(?!\w)", re.IGNORECASE)
        patterns.append((pattern, lambda m, token=token: token))
    if model:
        # DELETE ... WHERE <table>.column: the table's own name qualifies its columns
        pattern = re.compile(rf"(?<![\w.]){re.escape(model)}\.(?=\w)")
        patterns.append((pattern, lambda m: f"jsqltok_self_{model}_jsqlend."))
    spans: list[tuple[int, int, str]] = []
    for pattern, replace in patterns:
        for match in pattern.finditer(sql):
            if in_literal(match.start()) or any(s < match.end() and match.start() < e for s, e, _ in spans):
                continue
            spans.append((match.start(), match.end(), replace(match)))
    out, pos = [], 0
    for start, end, replacement in sorted(spans):
        out += [sql[pos:start], replacement]
        pos = end
    out.append(sql[pos:])
    return "".join(out)


def _token_jinja(kind: str, name: str, sources: dict[tuple[str, str], str]) -> str:
    if kind == "ref":
        return f"{{{{ ref('{name}') }}}}"
    if kind == "rel":
        return f"{{{{ journey_sql_relation('{name}') }}}}"
    if kind == "this":
        return "{{ this }}"
    if kind == "self":
        return "{{ this.include(database=False, schema=False) }}"
    if kind == "work":
        return f"{{{{ journey_sql_work('{name}') }}}}"
    schema, table = next(k for k, v in sources.items() if v == name)
    return f"{{{{ source('{schema}', '{table}') }}}}"


def escape_jinja(text: str) -> str:
    """Text outside the tokens, safe from Jinja: each opening delimiter becomes a Jinja string printing it
    (only openers start Jinja; a lone `}}` or `%}` is plain text)."""
    return _OPENER.sub(lambda m: "{{ '" + m.group() + "' }}", text)


_OPENER = re.compile(r"\{[{%#]")


def jinja_comment(text: str) -> str:
    return text.replace("#}", "# }").replace("{#", "{ #")
