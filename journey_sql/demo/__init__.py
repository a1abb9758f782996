"""The demo: realistic sample tracks (data.py, also used by the tests and the benchmark) and the run
`journey-sql demo` makes of them (run.py): a DuckDB file, every table, a summary and the report.

May import answers, run and everything below; nothing above (api, cli).
"""
