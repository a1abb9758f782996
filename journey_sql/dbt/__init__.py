"""The dbt project: `journey-sql dbt` writes the tables as models dbt builds, tests, documents and continues.

It sits beside the command line, above the compiler: it compiles the same plans
`render` prints and turns them into dbt files; it imports the compiler, settings and
dialects, never the executor or the engines.
"""

from journey_sql.dbt.project import Written, command_line, render_files, write_project

__all__ = ["Written", "command_line", "render_files", "write_project"]
