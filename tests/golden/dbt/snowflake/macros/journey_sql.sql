{#-
  journey-sql's dbt materialization and the helpers its models call. Written by `journey-sql dbt`;
  regenerate rather than edit.

  A model's compiled SQL is one or more parts, separated by the line
  `-- journey_sql: next statement`. A part holding `-- journey_sql: run` is a statement run as is,
  one holding `-- journey_sql: after` runs after the table is built, and the part holding neither is
  the SELECT the table is (re)built from. A model whose parts are all `run` continues the last build
  incrementally: its statements delete and insert the rows of the visitors the new source rows change
  (the same statements `journey-sql render --incremental` prints). journey_sql_continues_build() (in
  jsql_events) and journey_sql_continues_run() (in every other model) decide which, before the
  model's SQL is rendered.
-#}

{% materialization journey_sql, default %}
  {%- set target_relation = this.incorporate(type='table') -%}
  {%- set existing_relation = load_cached_relation(this) -%}
  {%- set parts = sql.split('-- journey_sql: next statement') -%}
  {%- set build = [] -%}
  {%- set before = [] -%}
  {%- set after = [] -%}
  {%- for part in parts -%}
    {%- if '-- journey_sql: run' in part -%}
      {%- do before.append(part) -%}
    {%- elif '-- journey_sql: after' in part -%}
      {%- do after.append(part) -%}
    {%- else -%}
      {%- do build.append(part) -%}
    {%- endif -%}
  {%- endfor -%}
  {%- if build | length > 1 -%}
    {{ exceptions.raise_compiler_error("journey_sql model " ~ this ~ " has " ~ (build | length) ~ " SELECTs; regenerate the project with journey-sql dbt") }}
  {%- endif -%}

  {%- set intermediate_relation = make_intermediate_relation(target_relation) -%}
  {%- set backup_relation_type = 'table' if existing_relation is none else existing_relation.type -%}
  {%- set backup_relation = make_backup_relation(target_relation, backup_relation_type) -%}
  {%- if build -%}
    {{ drop_relation_if_exists(load_cached_relation(intermediate_relation)) }}
    {{ drop_relation_if_exists(load_cached_relation(backup_relation)) }}
  {%- endif -%}

  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  {{ run_hooks(pre_hooks, inside_transaction=True) }}

  {%- set marker = journey_sql_work(journey_sql_marker()) -%}
  {%- if model.name == 'jsql_events' and build -%}
    {#- a full build: no later model of this run continues incrementally -#}
    {% do adapter.drop_relation(marker) %}
  {%- endif %}

  {%- for statement_sql in before %}
    {% call statement('main' if (loop.last and not build) else 'journey_sql_step') -%}
      {{ statement_sql }}
    {%- endcall %}
  {%- endfor %}

  {%- if model.name == 'jsql_events' %}
    {#- The tables change model by model from here on. Until jsql_state is written again, as the run's last
        model, a run that stops half way is followed by a full build (the drop commits with this model). -#}
    {% do adapter.drop_relation(journey_sql_relation('jsql_state')) %}
    {%- if not build %}{% do adapter.cache_added(marker) %}{% endif %}
  {%- endif %}

  {%- if build %}
    {{ journey_sql_build_table(existing_relation, intermediate_relation, target_relation, backup_relation, build[0]) }}
  {%- endif %}

  {%- for statement_sql in after %}
    {% call statement('journey_sql_after') -%}
      {{ statement_sql }}
    {%- endcall %}
  {%- endfor %}

  {%- if model.name == 'jsql_state' %}
    {#- the run is whole: its work tables go -#}
    {%- for name in journey_sql_work_tables() %}
      {% do adapter.drop_relation(journey_sql_work(name)) %}
    {%- endfor %}
  {%- endif %}

  {{ run_hooks(post_hooks, inside_transaction=True) }}
  {% do persist_docs(target_relation, model) %}
  {{ adapter.commit() }}
  {%- if build %}
    {{ drop_relation_if_exists(backup_relation) }}
  {%- endif %}
  {{ run_hooks(post_hooks, inside_transaction=False) }}
  {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}


{#- Build the table beside the live one and swap it in, as dbt's own table materialization does. -#}
{% macro journey_sql_build_table(existing_relation, intermediate_relation, target_relation, backup_relation, select_sql) %}
  {{ return(adapter.dispatch('journey_sql_build_table', 'journey_sql')(existing_relation, intermediate_relation, target_relation, backup_relation, select_sql)) }}
{% endmacro %}

{% macro default__journey_sql_build_table(existing_relation, intermediate_relation, target_relation, backup_relation, select_sql) %}
  {% call statement('main') -%}
    {{ get_create_table_as_sql(False, intermediate_relation, select_sql) }}
  {%- endcall %}
  {%- if existing_relation is not none %}
    {{ adapter.rename_relation(existing_relation, backup_relation) }}
  {%- endif %}
  {{ adapter.rename_relation(intermediate_relation, target_relation) }}
{% endmacro %}

{#- Warehouses whose CREATE OR REPLACE TABLE is one atomic swap (and that cannot rename tables: BigQuery). -#}
{% macro journey_sql_replace_table(existing_relation, target_relation, select_sql) %}
  {%- if existing_relation is not none and existing_relation.type != 'table' %}
    {{ adapter.drop_relation(existing_relation) }}
  {%- endif %}
  {% call statement('main') -%}
    {{ get_create_table_as_sql(False, target_relation, select_sql) }}
  {%- endcall %}
{% endmacro %}

{% macro bigquery__journey_sql_build_table(existing_relation, intermediate_relation, target_relation, backup_relation, select_sql) %}
  {{ journey_sql_replace_table(existing_relation, target_relation, select_sql) }}
{% endmacro %}

{% macro snowflake__journey_sql_build_table(existing_relation, intermediate_relation, target_relation, backup_relation, select_sql) %}
  {{ journey_sql_replace_table(existing_relation, target_relation, select_sql) }}
{% endmacro %}

{% macro databricks__journey_sql_build_table(existing_relation, intermediate_relation, target_relation, backup_relation, select_sql) %}
  {{ journey_sql_replace_table(existing_relation, target_relation, select_sql) }}
{% endmacro %}


{#- The relation dbt built (or will build) for another journey_sql model, wherever its schema or alias
    config put it; read from the graph, so no ref() (a ref to a later model would be a cycle). -#}
{% macro journey_sql_relation(name) %}
  {%- if not execute -%}{{ return(api.Relation.create(identifier=name, type='table')) }}{%- endif -%}
  {%- set node = graph.nodes.get('model.' ~ model.package_name ~ '.' ~ name) -%}
  {%- if node is none -%}
    {{ exceptions.raise_compiler_error("journey_sql: model " ~ name ~ " is not in the project; regenerate it with journey-sql dbt") }}
  {%- endif -%}
  {{ return(api.Relation.create(database=node.database, schema=node.schema, identifier=node.alias, type='table')) }}
{% endmacro %}

{#- A work table of an incremental run: beside jsql_events, dropped by jsql_state at the end of the run. -#}
{% macro journey_sql_work(name) %}
  {%- set home = journey_sql_relation('jsql_events') -%}
  {{ return(api.Relation.create(database=home.database, schema=home.schema, identifier=name, type='table')) }}
{% endmacro %}

{% macro journey_sql_log(message) %}
  {{ log("journey_sql " ~ this.identifier ~ ": " ~ message, info=True) }}
{% endmacro %}


{#- Every model: the settings the SQL was compiled with are the project's vars, or the run stops. -#}
{% macro journey_sql_check_settings() %}
  {%- set compiled = journey_sql_settings() -%}
  {%- for key, value in compiled.items() -%}
    {%- set given = var('journey_sql_' ~ key, value) -%}
    {%- set same = (given | float == value | float) if key == 'session_timeout' else (given == value) -%}
    {%- if not same -%}
      {{ exceptions.raise_compiler_error("journey_sql: var journey_sql_" ~ key ~ " is " ~ given ~ ", but this project's SQL was compiled for " ~ value ~ ". The SQL cannot follow a var: regenerate the project with `journey-sql dbt --out <dir> --force` and the new setting (" ~ journey_sql_command() ~ ").") }}
    {%- endif -%}
  {%- endfor -%}
  {%- if not execute -%}{{ return('') }}{%- endif -%}
  {%- set materialized = config.get('materialized') -%}
  {%- set allowed = ['journey_sql'] if model.name in ['jsql_events', 'jsql_state'] else ['journey_sql', 'table'] -%}
  {%- if materialized not in allowed -%}
    {{ exceptions.raise_compiler_error("journey_sql: model " ~ model.name ~ " is configured materialized='" ~ materialized ~ "'; it builds exactly only as " ~ (allowed | join(' or ')) ~ " (jsql_events and jsql_state hold the incremental builds' state). Remove the override.") }}
  {%- endif -%}
{% endmacro %}


{#- jsql_events: whether this run continues the last build. Every condition journey-sql apply checks,
    read from the warehouse before any table changes. -#}
{% macro journey_sql_continues_build() %}
  {%- if not execute -%}{{ return(false) }}{%- endif -%}
  {%- set reason = journey_sql_full_build_reason() -%}
  {%- if reason -%}
    {%- do journey_sql_log("full build: " ~ reason) -%}
    {{ return(false) }}
  {%- endif -%}
  {%- do journey_sql_log("incremental build: the last build has the same settings; reading rows received since its watermark minus the lookback (" ~ journey_sql_settings()['lookback_seconds'] ~ " s)") -%}
  {{ return(true) }}
{% endmacro %}

{% macro journey_sql_full_build_reason() %}
  {%- if target.type not in journey_sql_incremental_adapters() -%}
    {{ return("journey-sql builds " ~ target.type ~ " incrementally only through its own apply; through dbt every run rebuilds") }}
  {%- endif -%}
  {%- if config.get('materialized') != 'journey_sql' -%}{{ return("materialized is not journey_sql") }}{%- endif -%}
  {%- if should_full_refresh() -%}{{ return("full refresh requested (--full-refresh)") }}{%- endif -%}
  {%- for name in journey_sql_models() -%}
    {%- set rel = journey_sql_relation(name) -%}
    {%- if adapter.get_relation(database=rel.database, schema=rel.schema, identifier=rel.identifier) is none -%}
      {{ return("first build (" ~ rel ~ " does not exist)" if name == 'jsql_events' else rel ~ " is missing (the last run did not finish, or it was dropped)") }}
    {%- endif -%}
  {%- endfor -%}
  {%- set state = journey_sql_relation('jsql_state') -%}
  {%- set expected = journey_sql_expected_state() -%}
  {%- set rows = run_query("select " ~ (expected.keys() | join(', ')) ~ ", rows_processed from " ~ state).rows -%}
  {%- if rows | length != 1 -%}{{ return(state ~ " holds " ~ (rows | length) ~ " rows, not the one a build writes") }}{%- endif -%}
  {%- set row = rows[0] -%}
  {%- for key, value in expected.items() -%}
    {%- set found = row[loop.index0] -%}
    {%- set same = (found | string == value | string) if value is string else (found | int == value | int) -%}
    {%- if not same -%}
      {{ return("the last build's " ~ key ~ " was " ~ found ~ ", this project's is " ~ value) }}
    {%- endif -%}
  {%- endfor -%}
  {%- if target.type in journey_sql_cheap_count_adapters() -%}
    {%- set processed = row[expected | length] | int -%}
    {%- set counted = run_query(journey_sql_source_count_sql()).rows[0][0] | int -%}
    {%- if counted < processed -%}
      {{ return("the source has " ~ counted ~ " rows, fewer than the " ~ processed ~ " the last build processed: rows were deleted or replaced, so only a full refresh is right") }}
    {%- endif -%}
  {%- endif -%}
  {{ return("") }}
{% endmacro %}


{#- Every other model: continue incrementally only when jsql_events did so in this very dbt invocation
    (its work tables are then this run's); otherwise rebuild the table from the tables before it. -#}
{% macro journey_sql_continues_run() %}
  {%- if not execute -%}{{ return(false) }}{%- endif -%}
  {%- if target.type not in journey_sql_incremental_adapters() or config.get('materialized') != 'journey_sql' or should_full_refresh() -%}
    {{ return(false) }}
  {%- endif -%}
  {%- if adapter.get_relation(database=this.database, schema=this.schema, identifier=this.identifier) is none -%}
    {{ return(false) }}
  {%- endif -%}
  {%- set marker = journey_sql_work(journey_sql_marker()) -%}
  {%- if adapter.get_relation(database=marker.database, schema=marker.schema, identifier=marker.identifier) is none -%}
    {{ return(false) }}
  {%- endif -%}
  {%- set rows = run_query("select invocation_id from " ~ marker).rows -%}
  {%- if rows | length == 1 and rows[0][0] == invocation_id -%}
    {%- do journey_sql_log("incremental: replacing the rows of the visitors this run rebuilds") -%}
    {{ return(true) }}
  {%- endif -%}
  {{ return(false) }}
{% endmacro %}


{#- A data test: every value is at least `minimum`. -#}
{% test journey_sql_at_least(model, column_name, minimum) %}
select {{ column_name }} from {{ model }} where {{ column_name }} < {{ minimum }}
{% endtest %}
