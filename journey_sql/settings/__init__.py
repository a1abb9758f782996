"""Settings: what a run is asked to build. The options (options.py), journey-sql.toml and its targets
(config.py, targets.py), and the event source: layouts (layouts.py), mapped expressions (mapping.py),
event files (files.py) and the source relation the stages read (sources.py).

May import dialects and core. Everything here is checked before any SQL is written; nothing connects.
"""
