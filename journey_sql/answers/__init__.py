"""Answers: questions asked of the built tables, in SQL run where the tables are. Paths (paths.py),
funnels (funnel.py), names asked for that no row holds (events.py), the HTML report (report.py,
figures.py) and the table/CSV/JSON renderings of results (formats.py); queries.py renders and runs them.

May import engines, compile, settings, dialects and core; not the run or dbt. Only aggregates are fetched.
"""
