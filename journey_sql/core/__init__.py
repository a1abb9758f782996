"""The bottom layer: errors (one line each, saying what to do), secret redaction, and the stages (the
tables' names, grains and columns: the contract every other layer writes to).

Imports nothing of journey_sql but the package's version.
"""
