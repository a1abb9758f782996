"""The run: a plan executed on an engine. pipeline.py decides full or incremental (decide.py reads the last
build's state), checks the source against the catalog (checks.py), runs the steps (steps.py) and puts
the tables in place all or nothing (strategies.py); results.py is what it reports.

May import engines, compile, settings, dialects and core; not answers, dbt or anything above.
"""
