"""Compare an engine's tables with expected ones, row for row, with readable failures.

The one row comparator for every engine test: expected rows come from the
plain-Python reference (assert_matches_reference) or are written by hand
(assert_tables_equal); either way rows are matched by each table's key column.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from reference import Tables

# each table's key column (unique per row) by position
KEYS = {
    "dbt_aliases_mapping": 0,
    "dbt_mapped_tracks": 0,
    "dbt_session_tracks": 0,
    "dbt_track_facts": 2,
    "dbt_tracks_flow": 0,
    "dbt_session_track_facts": 0,
    "dbt_session_duration": 1,
    "dbt_user_session_facts": 0,
}
FLOAT_TOLERANCE = 1e-6


def normalise(value: Any) -> Any:
    """Engines hand back the same value in different Python types; bring them to one."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp
        return normalise(value.to_pydatetime())
    return value


def _same(a: Any, b: Any, tolerance: float = FLOAT_TOLERANCE) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        return math.isclose(float(a), float(b), rel_tol=0, abs_tol=tolerance)
    return a == b


def diff_table(
    name: str, actual: list[tuple], expected: list[tuple], float_tolerance: float = FLOAT_TOLERANCE
) -> list[str]:
    key = KEYS[name]
    problems: list[str] = []
    actual = [tuple(normalise(v) for v in row) for row in actual]
    got = {row[key]: row for row in actual}
    want = {row[key]: row for row in expected}
    if len(got) != len(actual):
        problems.append(f"{name}: {len(actual) - len(got)} duplicate key(s) in engine output")
    missing = sorted(set(want) - set(got), key=str)
    extra = sorted(set(got) - set(want), key=str)
    if missing:
        problems.append(f"{name}: {len(missing)} row(s) missing, e.g. {[want[k] for k in missing[:3]]}")
    if extra:
        problems.append(f"{name}: {len(extra)} unexpected row(s), e.g. {[got[k] for k in extra[:3]]}")
    wrong = [
        k
        for k in want.keys() & got.keys()
        if len(got[k]) != len(want[k])
        or not all(_same(g, w, float_tolerance) for g, w in zip(got[k], want[k], strict=True))
    ]
    for k in sorted(wrong, key=str)[:5]:
        problems.append(f"{name}: row {k!r}\n    engine:    {got[k]}\n    expected:  {want[k]}")
    if len(wrong) > 5:
        problems.append(f"{name}: ... and {len(wrong) - 5} more differing rows")
    return problems


def assert_tables_equal(
    actual: dict[str, list[tuple]],
    expected: dict[str, list[tuple]],
    context: str = "",
    float_tolerance: float = FLOAT_TOLERANCE,
) -> None:
    """Every table in `expected` equals the engine's, row for row (matched by key), floats within a tolerance."""
    problems: list[str] = []
    for name, rows in expected.items():
        problems += diff_table(name, actual[name], rows, float_tolerance)
    assert not problems, f"{context}\n" + "\n".join(problems)


def assert_matches_reference(actual: dict[str, list[tuple]], expected: Tables, context: str = "") -> None:
    assert_tables_equal(actual, expected.as_dict(), context)
