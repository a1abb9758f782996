"""journey-sql: customer-journey tables from RudderStack/Segment `tracks`, the same on every warehouse.

The package is layered; each layer imports only the layers below it
(tests/test_architecture.py holds it to that, docs/architecture.md says why):

    cli                       the command line: parses options, calls journey_sql.api, prints
    api                       the public Python API (what the CLI and a DAG call)
    demo                      the demo: sample data, a build, a report
    answers | run | dbt       questions asked of the tables | a plan executed | a dbt project written
    engines                   one module per warehouse: connecting, catalog, how a table is replaced
    compile                   templates -> a plan of steps (full or incremental), for one dialect
    settings                  options, journey-sql.toml, event sources and their column mapping
    dialects                  how each SQL dialect differs, as data and small tree transforms
    core                      errors, secret redaction, the tables' names and columns

Use journey_sql.api from Python; every other module is internal.
"""

__version__ = "0.1.0"
