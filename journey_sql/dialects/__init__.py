"""Dialects: how each SQL dialect differs, as data (one `Dialect` entry per target, dialect.py) and small
`exp -> exp` tree transforms each with its reason (transforms.py, duckdb_plans.py, clickhouse.py), plus
which names work unquoted on each target (names.py).

May import core only. Knows nothing of settings, plans or connections.
"""
