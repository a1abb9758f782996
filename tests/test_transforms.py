"""Each dialect transform on its own, in the sqlglot style: input SQL -> expected SQL.

The golden files (tests/golden/) show every transform at work on whole stages;
these small cases show one transform at a time on the construct it exists for,
and that it leaves its neighbours alone. Inputs are the templates' DuckDB SQL;
expected outputs are written by hand from each transform's docstring.
"""

from __future__ import annotations

import pytest
import sqlglot

from journey_sql.dialects.clickhouse import clickhouse_join_use_nulls, clickhouse_null_padded_shifts
from journey_sql.dialects.dialect import DIALECTS
from journey_sql.dialects.duckdb_plans import (
    duckdb_partition_totals_by_hash,
    duckdb_prunable_received_window,
    duckdb_rank_repeated_ids_only,
    duckdb_rescan_filtered_ctes,
)
from journey_sql.dialects.transforms import (
    bigquery_plain_window_order,
    delete_using_as_exists,
    finite_timestamps_only,
    postgres_binary_collation,
    redshift_epoch_us,
    redshift_sized_varchar,
    rewrite_epoch_us,
    unquote_identifiers,
)


def _epoch(dialect: str):
    build = DIALECTS[dialect].epoch_us
    assert build is not None
    return rewrite_epoch_us(build)


# (case id, transform, dialect the result is printed in, DuckDB input, expected output)
CASES = [
    (
        "epoch_us postgres",
        _epoch("postgres"),
        "postgres",
        "SELECT epoch_us(ts) - epoch_us(prev_ts) FROM t",
        "SELECT CAST(EXTRACT(EPOCH FROM ts) * 1000000 AS BIGINT) - CAST(EXTRACT(EPOCH FROM prev_ts) * 1000000 AS BIGINT) FROM t",
    ),
    (
        "epoch_us bigquery reads DATETIME as UTC",
        _epoch("bigquery"),
        "bigquery",
        "SELECT epoch_us(ts) FROM t",
        "SELECT UNIX_MICROS(CAST(ts AS TIMESTAMP)) FROM t",
    ),
    (
        "epoch_us spark",
        _epoch("spark"),
        "spark",
        "SELECT epoch_us(ts) FROM t",
        "SELECT UNIX_MICROS(ts) FROM t",
    ),
    (
        "epoch_us redshift: whole minutes plus fractional seconds, parenthesised",
        rewrite_epoch_us(redshift_epoch_us),
        "redshift",
        "SELECT epoch_us(ts) - 1 FROM t",
        "SELECT (CAST(EXTRACT(EPOCH FROM DATE_TRUNC('MINUTE', ts)) AS BIGINT) * 1000000"
        " + CAST(ROUND(DATE_PART('second', ts) * 1000000) AS BIGINT)) - 1 FROM t",
    ),
    (
        "epoch_us clickhouse",
        _epoch("clickhouse"),
        "clickhouse",
        "SELECT epoch_us(ts) FROM t",
        "SELECT toUnixTimestamp64Micro(toDateTime64(ts, 6, 'UTC')) FROM t",
    ),
    (
        "other functions untouched by the epoch rewrite",
        _epoch("postgres"),
        "postgres",
        "SELECT to_epoch_us(ts) FROM t",
        "SELECT TO_EPOCH_US(ts) FROM t",  # sqlglot prints unknown functions in upper case
    ),
    (
        "unquote identifiers: each engine folds names its own way",
        unquote_identifiers,
        "snowflake",
        'SELECT "Anonymous_Id" FROM "rudder"."TRACKS"',
        "SELECT Anonymous_Id FROM rudder.TRACKS",
    ),
    (
        "finite timestamps: the isfinite() conjunct goes",
        finite_timestamps_only,
        "snowflake",
        "SELECT id FROM t WHERE ts IS NOT NULL AND isfinite(ts)",
        "SELECT id FROM t WHERE NOT ts IS NULL",
    ),
    (
        "finite timestamps: a lone isfinite() is TRUE",
        finite_timestamps_only,
        "bigquery",
        "SELECT CASE WHEN isfinite(ts) THEN ts END FROM t",
        "SELECT CASE WHEN TRUE THEN ts END FROM t",
    ),
    (
        "bigquery: no null order in an aggregate window",
        bigquery_plain_window_order,
        "bigquery",
        "SELECT MAX(ts) OVER (PARTITION BY v ORDER BY ts, id) FROM t",
        "SELECT MAX(ts) OVER (PARTITION BY v ORDER BY ts, id) FROM t",
    ),
    (
        "postgres: text sort keys in windows sort in code-point order",
        postgres_binary_collation,
        "postgres",
        "SELECT ROW_NUMBER() OVER (PARTITION BY v ORDER BY ts, id) FROM t ORDER BY id",
        'SELECT ROW_NUMBER() OVER (PARTITION BY v ORDER BY ts, id COLLATE "C") FROM t ORDER BY id',
    ),
    (
        # (DuckDB drops a VARCHAR's size when it parses, so the templates have only unsized text)
        "redshift: unsized VARCHAR/TEXT get Redshift's maximum, other types stay",
        redshift_sized_varchar,
        "redshift",
        "SELECT CAST(a AS VARCHAR), CAST(b AS TEXT), CAST(c AS BIGINT) FROM t",
        "SELECT CAST(a AS VARCHAR(65535)), CAST(b AS VARCHAR(65535)), CAST(c AS BIGINT) FROM t",
    ),
    (
        "clickhouse: LAG/LEAD become NULL-padded *InFrame over the whole partition",
        clickhouse_null_padded_shifts,
        "clickhouse",
        "SELECT LAG(e) OVER (PARTITION BY v ORDER BY ts), LEAD(e, 2) OVER (PARTITION BY v ORDER BY ts) FROM t",
        "SELECT lagInFrame(toNullable(e)) OVER (PARTITION BY v ORDER BY ts ROWS BETWEEN UNBOUNDED PRECEDING AND "
        "UNBOUNDED FOLLOWING), leadInFrame(toNullable(e), 2) OVER (PARTITION BY v ORDER BY ts ROWS BETWEEN "
        "UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) FROM t",
    ),
    (
        "clickhouse: a LEFT JOIN gets SQL's NULLs, on the last branch of a UNION",
        clickhouse_join_use_nulls,
        "clickhouse",
        "SELECT a.x FROM a LEFT JOIN b ON a.id = b.id UNION ALL SELECT c.x FROM c",
        "SELECT a.x FROM a LEFT JOIN b ON a.id = b.id UNION ALL SELECT c.x FROM c SETTINGS join_use_nulls = 1",
    ),
    (
        "clickhouse: no setting without a LEFT JOIN",
        clickhouse_join_use_nulls,
        "clickhouse",
        "SELECT a.x FROM a JOIN b ON a.id = b.id",
        "SELECT a.x FROM a JOIN b ON a.id = b.id",
    ),
    (
        "duckdb: a filtered scan read twice is scanned again, not materialized",
        duckdb_rescan_filtered_ctes,
        "duckdb",
        "WITH e AS (SELECT id, v FROM s.t WHERE x IS NULL), "
        "a AS (SELECT DISTINCT v FROM e), b AS (SELECT id FROM e) SELECT * FROM a, b",
        "WITH e AS NOT MATERIALIZED (SELECT id, v FROM s.t WHERE x IS NULL), "
        "a AS (SELECT DISTINCT v FROM e), b AS (SELECT id FROM e) SELECT * FROM a, b",
    ),
    (
        "duckdb: a CTE read once, or one that aggregates, windows or joins, is left as it is",
        duckdb_rescan_filtered_ctes,
        "duckdb",
        "WITH once AS (SELECT id FROM t), w AS (SELECT ROW_NUMBER() OVER (ORDER BY id) AS n FROM once), "
        "g AS (SELECT COUNT(*) AS c FROM t), j AS (SELECT t.id FROM t JOIN u ON t.id = u.id) "
        "SELECT * FROM w, w AS w2, g, g AS g2, j, j AS j2",
        "WITH once AS (SELECT id FROM t), w AS (SELECT ROW_NUMBER() OVER (ORDER BY id) AS n FROM once), "
        "g AS (SELECT COUNT(*) AS c FROM t), j AS (SELECT t.id FROM t JOIN u ON t.id = u.id) "
        "SELECT * FROM w, w AS w2, g, g AS g2, j, j AS j2",
    ),
    (
        "duckdb: deliveries ranked only for ids that arrive more than once",
        duckdb_rank_repeated_ids_only,
        "duckdb",
        "SELECT r.id, r.rnk FROM (SELECT src.id, src.v, ROW_NUMBER() OVER (PARTITION BY src.id ORDER BY src.v) AS rnk "
        "FROM s.t AS src) AS r",
        "SELECT r.id, r.rnk FROM (WITH jsql_repeated_ids AS (SELECT src.id AS repeated_id FROM s.t AS src "
        "GROUP BY src.id HAVING COUNT(*) > 1) "
        "SELECT src.id, src.v, 1 AS rnk FROM s.t AS src "
        "ANTI JOIN jsql_repeated_ids AS jsql_r ON jsql_r.repeated_id IS NOT DISTINCT FROM src.id "
        "UNION ALL "
        "SELECT src.id, src.v, ROW_NUMBER() OVER (PARTITION BY src.id ORDER BY src.v) AS rnk FROM s.t AS src "
        "SEMI JOIN jsql_repeated_ids AS jsql_r ON jsql_r.repeated_id IS NOT DISTINCT FROM src.id) AS r",
    ),
    (
        "duckdb: other partitions, filtered or joined scans, several windows and top-level selects are left alone",
        duckdb_rank_repeated_ids_only,
        "duckdb",
        "SELECT * FROM (SELECT ROW_NUMBER() OVER (PARTITION BY t.v ORDER BY t.w) AS n FROM t) AS a, "
        "(SELECT ROW_NUMBER() OVER (PARTITION BY t.id ORDER BY t.w) AS n FROM t WHERE t.w > 1) AS b, "
        "(SELECT ROW_NUMBER() OVER (PARTITION BY t.id ORDER BY t.w) AS n FROM t JOIN u ON t.id = u.id) AS c, "
        "(SELECT ROW_NUMBER() OVER (PARTITION BY t.id ORDER BY t.w) AS n, LAG(t.w) OVER (ORDER BY t.w) AS p FROM t) AS d, "
        "(SELECT RANK() OVER (PARTITION BY t.id ORDER BY t.w) AS n FROM t) AS e",
        "SELECT * FROM (SELECT ROW_NUMBER() OVER (PARTITION BY t.v ORDER BY t.w) AS n FROM t) AS a, "
        "(SELECT ROW_NUMBER() OVER (PARTITION BY t.id ORDER BY t.w) AS n FROM t WHERE t.w > 1) AS b, "
        "(SELECT ROW_NUMBER() OVER (PARTITION BY t.id ORDER BY t.w) AS n FROM t JOIN u ON t.id = u.id) AS c, "
        "(SELECT ROW_NUMBER() OVER (PARTITION BY t.id ORDER BY t.w) AS n, LAG(t.w) OVER (ORDER BY t.w) AS p FROM t) AS d, "
        "(SELECT RANK() OVER (PARTITION BY t.id ORDER BY t.w) AS n FROM t) AS e",
    ),
    (
        "duckdb: partition totals become a hash aggregate joined back on the key, NULL keys included",
        duckdb_partition_totals_by_hash,
        "duckdb",
        "SELECT b.id, b.v, SUM(b.n) OVER (PARTITION BY b.id) AS s, COUNT(*) OVER (PARTITION BY b.id) AS c FROM x AS b",
        "SELECT b.id, b.v, jsql_totals.s AS s, jsql_totals.c AS c FROM x AS b "
        "JOIN (SELECT b.id AS jsql_key_0, SUM(b.n) AS s, COUNT(*) AS c FROM x AS b GROUP BY b.id) AS jsql_totals "
        "ON jsql_totals.jsql_key_0 IS NOT DISTINCT FROM b.id",
    ),
    (
        "duckdb: ordered or framed windows, other functions, two partitions and filtered scans are left alone",
        duckdb_partition_totals_by_hash,
        "duckdb",
        "SELECT * FROM (SELECT SUM(b.n) OVER (PARTITION BY b.id ORDER BY b.t) AS s FROM x AS b) AS p, "
        "(SELECT ROW_NUMBER() OVER (PARTITION BY b.id) AS r FROM x AS b) AS q, "
        "(SELECT SUM(b.n) OVER (PARTITION BY b.id) AS s, COUNT(*) OVER (PARTITION BY b.v) AS c FROM x AS b) AS r, "
        "(SELECT SUM(b.n) OVER (PARTITION BY b.id) AS s FROM x AS b WHERE b.n > 0) AS t, "
        "(SELECT id, SUM(n) OVER (PARTITION BY id) AS s FROM x) AS u",
        "SELECT * FROM (SELECT SUM(b.n) OVER (PARTITION BY b.id ORDER BY b.t) AS s FROM x AS b) AS p, "
        "(SELECT ROW_NUMBER() OVER (PARTITION BY b.id) AS r FROM x AS b) AS q, "
        "(SELECT SUM(b.n) OVER (PARTITION BY b.id) AS s, COUNT(*) OVER (PARTITION BY b.v) AS c FROM x AS b) AS r, "
        "(SELECT SUM(b.n) OVER (PARTITION BY b.id) AS s FROM x AS b WHERE b.n > 0) AS t, "
        "(SELECT id, SUM(n) OVER (PARTITION BY id) AS s FROM x) AS u",
    ),
    (
        "duckdb: the incremental window becomes a comparison DuckDB can skip row groups with, plus the NULLs",
        duckdb_prunable_received_window,
        "duckdb",
        "SELECT COUNT(*) AS n, MAX(e.id) FROM a.ev AS e WHERE (e.received_at >= (SELECT s.w - INTERVAL 1 DAY "
        "FROM a.st AS s) OR e.received_at IS NULL OR (SELECT s.w FROM a.st AS s) IS NULL)",
        "SELECT COUNT(*) AS n, MAX(e.id) FROM (SELECT e.id, e.received_at FROM a.ev AS e "
        "WHERE e.received_at >= COALESCE((SELECT s.w - INTERVAL '1' DAY FROM a.st AS s), "
        "CAST('-infinity' AS TIMESTAMP)) "
        "UNION ALL SELECT e.id, e.received_at FROM a.ev AS e WHERE e.received_at IS NULL) AS e",
    ),
    (
        "bigquery: DELETE ... USING becomes DELETE ... WHERE EXISTS over the same condition",
        delete_using_as_exists,
        "bigquery",
        "DELETE FROM a.facts USING w.cv AS v WHERE facts.vid = v.vid AND (v.since IS NULL OR facts.ts >= v.since)",
        "DELETE FROM a.facts WHERE EXISTS(SELECT 1 FROM w.cv AS v "
        "WHERE facts.vid = v.vid AND (v.since IS NULL OR facts.ts >= v.since))",
    ),
    (
        "databricks: a DELETE without USING, and a SELECT, are left alone",
        delete_using_as_exists,
        "databricks",
        "DELETE FROM a.facts WHERE vid IN (SELECT v.vid FROM w.cv AS v)",
        "DELETE FROM a.facts WHERE vid IN (SELECT v.vid FROM w.cv AS v)",
    ),
    (
        "duckdb: other ORs, other columns and joined scans are left alone",
        duckdb_prunable_received_window,
        "duckdb",
        "SELECT * FROM (SELECT e.id FROM ev AS e WHERE e.received_at >= (SELECT 1) OR e.received_at IS NULL) AS a, "
        "(SELECT e.id FROM ev AS e WHERE e.ts >= (SELECT 1) OR e.ts IS NULL OR (SELECT 1) IS NULL) AS b, "
        "(SELECT e.id FROM ev AS e JOIN f ON e.id = f.id "
        "WHERE e.received_at >= (SELECT 1) OR e.received_at IS NULL OR (SELECT 1) IS NULL) AS c, "
        "(SELECT id FROM ev AS e WHERE e.received_at >= (SELECT 1) OR e.received_at IS NULL OR (SELECT 1) IS NULL) AS d",
        "SELECT * FROM (SELECT e.id FROM ev AS e WHERE e.received_at >= (SELECT 1) OR e.received_at IS NULL) AS a, "
        "(SELECT e.id FROM ev AS e WHERE e.ts >= (SELECT 1) OR e.ts IS NULL OR (SELECT 1) IS NULL) AS b, "
        "(SELECT e.id FROM ev AS e JOIN f ON e.id = f.id "
        "WHERE e.received_at >= (SELECT 1) OR e.received_at IS NULL OR (SELECT 1) IS NULL) AS c, "
        "(SELECT id FROM ev AS e WHERE e.received_at >= (SELECT 1) OR e.received_at IS NULL OR (SELECT 1) IS NULL) AS d",
    ),
]


@pytest.mark.parametrize(
    ("transform", "dialect", "source", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_transform(transform, dialect: str, source: str, expected: str) -> None:
    tree = sqlglot.parse_one(source, read="duckdb")
    out = transform(tree).sql(dialect=DIALECTS[dialect].sqlglot_name)
    assert out == expected


def test_every_transform_has_a_case() -> None:
    """A new transform in a dialect comes with its own case here."""
    covered = {c[1] for c in CASES} | {rewrite_epoch_us}
    named = {t for d in DIALECTS.values() for t in d.extra_transforms} | {unquote_identifiers, finite_timestamps_only}
    assert named <= covered, f"transforms without a case: {sorted(t.__name__ for t in named - covered)}"


def test_ranking_repeated_ids_only_gives_every_row_its_rank() -> None:
    """The rewrite runs on DuckDB and gives the rank ROW_NUMBER gives, NULL ids (one partition) and exact
    duplicate rows included; the expected ranks are written out by hand."""
    import duckdb

    con = duckdb.connect()
    con.execute(
        "CREATE TABLE t AS SELECT * FROM (VALUES ('a', 2), ('a', 1), (NULL, 3), (NULL, 4), ('b', 5), (NULL, 6), "
        "('c', 7), ('c', 7), ('d', NULL), ('d', 0)) AS v(id, v)"
    )
    query = (
        "SELECT r.id, r.v, r.n FROM (SELECT src.id, src.v, "
        "ROW_NUMBER() OVER (PARTITION BY src.id ORDER BY src.v NULLS LAST) AS n FROM t AS src) AS r"
    )
    rewritten = duckdb_rank_repeated_ids_only(sqlglot.parse_one(query, read="duckdb")).sql(dialect="duckdb")
    assert "jsql_repeated_ids" in rewritten
    expected = [
        ("a", 1, 1), ("a", 2, 2), ("b", 5, 1), ("c", 7, 1), ("c", 7, 2), ("d", 0, 1), ("d", None, 2),
        (None, 3, 1), (None, 4, 2), (None, 6, 3),
    ]  # fmt: skip
    key = lambda row: tuple((x is None, x) for x in row)  # noqa: E731
    assert sorted(con.execute(rewritten).fetchall(), key=key) == sorted(expected, key=key)
