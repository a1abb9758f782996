"""The command line: `journey-sql` and its commands. Options are parsed here (options.py), the library is
called through journey_sql.api only, results are printed (output.py) and every failure ends in one line
(errors.py). app.py is the group; build.py holds render/apply/demo/dbt/dialects, answers.py
paths/funnel/report.

Imports journey_sql.api and nothing else of the package: what the CLI can do, Python can do the same way.
"""
