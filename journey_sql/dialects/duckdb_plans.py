"""DuckDB plan rewrites: the same result, a cheaper plan on DuckDB (each measured, the figures beside it).

They change how DuckDB executes a stage, never what it returns; tests/test_transforms.py shows each on
its construct and the engine tests show the tables unchanged.
"""

from __future__ import annotations

from sqlglot import exp


def duckdb_rescan_filtered_ctes(tree: exp.Expression) -> exp.Expression:
    """DuckDB materializes a CTE that is read more than once: every row and
    column of it is copied into a temporary buffer first. For a CTE that only
    filters and projects one table (the stages' `events`, read three times by
    dbt_aliases_mapping) that copy costs more than scanning the columnar table
    again with the filter pushed into the scan (a quarter of the stage at 1M
    events). Such CTEs are marked NOT MATERIALIZED; the result is the same."""
    reads: dict[str, int] = {}
    for table in tree.find_all(exp.Table):
        if not table.db:
            reads[table.name.lower()] = reads.get(table.name.lower(), 0) + 1
    for cte in tree.find_all(exp.CTE):
        body = cte.this
        plain_scan = (
            isinstance(body, exp.Select)
            and isinstance(body.args.get("from_"), exp.From)
            and isinstance(body.args["from_"].this, exp.Table)
            and not any(body.args.get(k) for k in ("joins", "group", "having", "qualify", "order", "limit", "distinct"))
            and not any(body.find_all(exp.Window, exp.AggFunc, exp.Subquery, exp.Union))
        )
        if plain_scan and reads.get(cte.alias.lower(), 0) > 1 and cte.args.get("materialized") is None:
            cte.set("materialized", False)
    return tree


def duckdb_rank_repeated_ids_only(tree: exp.Expression) -> exp.Expression:
    """Ranking every source row among the deliveries of its id sorts all of
    them, though an id almost always arrives once. DuckDB finds the ids that
    arrive more than once with a hash aggregate instead, ranks only their
    rows, and gives every other row rank 1, which is what ROW_NUMBER gives a
    partition of one row (events step at 10M events: 8.5 s -> 5.7 s). The
    source is scanned three times rather than once; on a local columnar table
    a scan costs far less than the sort (engines that bill or time scans keep
    the one read). Matches a SELECT over one relation, without WHERE, joins or
    grouping, whose one window is ROW_NUMBER() partitioned by an `id` column.
    NULL ids are matched with IS NOT DISTINCT FROM: they form one partition."""
    for select in list(tree.find_all(exp.Select)):
        windows = [p for p in select.expressions if isinstance(p.unalias(), exp.Window)]
        from_ = select.args.get("from_")
        if len(windows) != 1 or not isinstance(from_, exp.From):
            continue
        window = windows[0].unalias()
        partition = window.args.get("partition_by") or []
        if (
            not isinstance(window.this, exp.RowNumber)
            or window.args.get("spec")
            or len(partition) != 1
            or not isinstance(partition[0], exp.Column)
            or partition[0].name.lower() != "id"
            or any(select.args.get(k) for k in ("joins", "where", "group", "having", "qualify", "distinct", "limit"))
            or not isinstance(select.parent, exp.Subquery)
            or len(list(select.find_all(exp.Window))) != 1
        ):
            continue
        key, relation = partition[0], from_.this
        alias = relation.alias_or_name
        # the ids that arrive more than once
        cte = exp.CTE(
            this=exp.select(exp.alias_(exp.column(key.name, table=alias), "repeated_id"))
            .from_(relation.copy())
            .group_by(exp.column(key.name, table=alias))
            .having(exp.GT(this=exp.Count(this=exp.Star()), expression=exp.Literal.number(1))),
            alias=exp.TableAlias(this=exp.to_identifier("jsql_repeated_ids")),
        )
        repeated = exp.to_table("jsql_repeated_ids").as_("jsql_r")
        same_id = exp.NullSafeEQ(
            this=exp.column("repeated_id", table="jsql_r"), expression=exp.column(key.name, table=alias)
        )
        once = select.copy()
        once.set(
            "expressions",
            [exp.alias_(exp.Literal.number(1), p.alias) if p is windows[0] else p.copy() for p in select.expressions],
        )
        once = once.join(repeated.copy(), on=same_id.copy(), join_type="anti")
        ranked = select.copy().join(repeated, on=same_id, join_type="semi")
        union = exp.union(once, ranked, distinct=False)
        union.set("with_", exp.With(expressions=[cte]))
        select.replace(union)
    return tree


def duckdb_partition_totals_by_hash(tree: exp.Expression) -> exp.Expression:
    """A total over a whole partition (`SUM(x) OVER (PARTITION BY k)`, no ORDER
    BY) makes DuckDB sort every row by `k`; a hash aggregate per `k`, joined
    back on `k`, gives each row the same total in half the time (the
    incremental run's first step at 10M events: 0.39 s -> 0.20 s). Matches a
    SELECT over one relation, without WHERE, joins or grouping, whose windows
    are all SUM, COUNT, MIN or MAX over the same PARTITION BY of columns. The
    keys are matched with IS NOT DISTINCT FROM: NULL is one partition."""
    for select in list(tree.find_all(exp.Select)):
        from_ = select.args.get("from_")
        if not isinstance(from_, exp.From) or not isinstance(from_.this, exp.Table):
            continue
        if any(select.args.get(k) for k in ("where", "joins", "group", "having", "qualify", "distinct")):
            continue
        windows = [p for p in select.expressions if isinstance(p.unalias(), exp.Window)]
        if not windows or not all(isinstance(p, exp.Alias) for p in windows):
            continue
        specs = [p.this for p in windows]
        plain = all(
            isinstance(w.this, (exp.Sum, exp.Count, exp.Min, exp.Max))
            and not w.args.get("order")
            and not w.args.get("spec")
            and w.args.get("partition_by")
            and all(isinstance(c, exp.Column) for c in w.args["partition_by"])
            for w in specs
        )
        if not plain or len({tuple(c.sql() for c in w.args["partition_by"]) for w in specs}) != 1:
            continue
        if any(not c.table for c in select.find_all(exp.Column)):
            continue  # an unqualified name could also be one of jsql_totals' columns
        keys = specs[0].args["partition_by"]
        names = [f"jsql_key_{i}" for i in range(len(keys))]
        totals = (
            exp.select(
                *(exp.alias_(k.copy(), n) for k, n in zip(keys, names, strict=True)),
                *(exp.alias_(w.this.copy(), p.alias) for w, p in zip(specs, windows, strict=True)),
            )
            .from_(from_.this.copy())
            .group_by(*(k.copy() for k in keys))
        )
        on = exp.and_(
            *(
                exp.NullSafeEQ(this=exp.column(n, table="jsql_totals"), expression=k.copy())
                for k, n in zip(keys, names, strict=True)
            )
        )
        for p in windows:
            p.set("this", exp.column(p.alias, table="jsql_totals"))
        select.join(
            exp.Subquery(this=totals, alias=exp.TableAlias(this=exp.to_identifier("jsql_totals"))), on=on, copy=False
        )
    return tree


def duckdb_prunable_received_window(tree: exp.Expression) -> exp.Expression:
    """An incremental run reads the rows `received_at >= (watermark - lookback)
    OR received_at IS NULL OR watermark IS NULL` (templates/_incremental.sql.j2).
    DuckDB skips the row groups whose received_at range lies before the cutoff,
    but only for a comparison it can see whole: inside that OR it scans every
    row (0.85 s of a 10M-row table and events table, against 0.35 s). The
    filtered relation becomes the UNION ALL of `received_at >= COALESCE(cutoff,
    '-infinity')` and `received_at IS NULL`: the same rows (with no watermark
    the cutoff is -infinity, so every row with a received_at), each once."""
    for select in list(tree.find_all(exp.Select)):
        where, from_ = select.args.get("where"), select.args.get("from_")
        if not isinstance(where, exp.Where) or not isinstance(from_, exp.From) or select.args.get("joins"):
            continue
        condition = where.this.unnest()
        parts = list(condition.flatten()) if isinstance(condition, exp.Or) else []
        if len(parts) != 3:
            continue
        at_or_after, no_received_at, no_watermark = (p.unnest() for p in parts)
        if not (
            isinstance(at_or_after, exp.GTE)
            and isinstance(at_or_after.this, exp.Column)
            and at_or_after.this.name.lower() == "received_at"
            and isinstance(at_or_after.expression, exp.Subquery)
            and isinstance(no_received_at, exp.Is)
            and no_received_at.this == at_or_after.this
            and isinstance(no_received_at.expression, exp.Null)
            and isinstance(no_watermark, exp.Is)
            and isinstance(no_watermark.this, exp.Subquery)
            and isinstance(no_watermark.expression, exp.Null)
        ):
            continue
        if any(not c.table for c in select.find_all(exp.Column)):
            continue  # the branches project the relation's columns by their qualified names
        relation = from_.this
        alias = relation.alias_or_name
        cutoff = exp.Coalesce(
            this=at_or_after.expression.copy(),
            expressions=[exp.cast(exp.Literal.string("-infinity"), exp.DataType.build("TIMESTAMP"))],
        )
        received_at = at_or_after.this
        where.pop()
        # the columns the SELECT reads from the relation: a source table may have dozens
        names = sorted({c.name for c in select.find_all(exp.Column) if c.table == alias} | {received_at.name})
        columns = [exp.column(name, table=alias) for name in names]
        branches = [
            exp.select(*columns).from_(relation.copy()).where(exp.GTE(this=received_at.copy(), expression=cutoff)),
            exp.select(*columns).from_(relation.copy()).where(exp.Is(this=received_at.copy(), expression=exp.Null())),
        ]
        union = exp.union(*branches, distinct=False)
        select.set(
            "from_", exp.From(this=exp.Subquery(this=union, alias=exp.TableAlias(this=exp.to_identifier(alias))))
        )
    return tree
