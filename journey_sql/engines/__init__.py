"""Engines: one module per warehouse, the single home of everything about it.

Each engine class declares its URL scheme(s) and example, dbt profile types and
conversion, dialect, capability flags and how it connects and replaces tables;
journey_sql.engines.registry lists the classes and derives every table from
them. Drivers are imported when a connection is opened, never at import time,
so `journey-sql render` and users with a single extra installed stay unaffected.
connection.py parses URLs and connects; profiles.py turns a target or dbt profile into a URL.

May import compile, settings, dialects and core; never the run, answers or anything above.
"""
