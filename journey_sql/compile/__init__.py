"""Compile: the stage templates rendered (templates.py) and compiled, once, into a plan of steps for one
dialect: the full build (plan.py) or the incremental one (incremental.py); script.py prints a plan the
way `journey-sql render` shows it.

May import settings, dialects and core. Pure: it never connects; engines and the run execute its plans.
"""
