"""The dbt project: `journey-sql dbt` writes the tables as models dbt builds, tests, documents and continues.

project.py writes the folder (never overwriting a file it did not write), models.py turns each
table's plan steps into a model, files.py writes the YAML, macros and README, docs.py the descriptions.

May import compile, settings, dialects and core; never the run or the engines: it compiles the same
plans `render` prints and leaves running them to dbt.
"""
