from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings

# helper modules (reference, strategies, harness) live beside the tests
sys.path.insert(0, str(Path(__file__).parent))

settings.register_profile(
    "default",
    deadline=None,
    max_examples=40,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.register_profile("ci", parent=settings.get_profile("default"), derandomize=True)
# for checking that a property test fails on a deliberately broken build: report the first failure, unshrunk
settings.register_profile(
    "mutation", parent=settings.get_profile("default"), phases=[Phase.explicit, Phase.reuse, Phase.generate]
)
settings.register_profile("thorough", parent=settings.get_profile("default"), max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "default"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="Rewrite tests/golden/ from the current templates instead of comparing (review the diff!).",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture
def duckdb_harness():
    from harness import DuckDBHarness

    h = DuckDBHarness()
    yield h
    h.close()


@pytest.fixture(scope="session")
def demo_rows() -> list[dict]:
    """Held-out realistic data: the demo generator's tracks (about 3,000 events), as Python rows."""
    import duckdb

    from journey_sql.demo.data import generate

    con = duckdb.connect(":memory:")
    generate(con, 3000, seed=7)
    cols = ["id", "anonymous_id", "user_id", "event", "timestamp", "received_at"]
    rows = con.execute(f"SELECT {', '.join(cols)} FROM rudder.tracks").fetchall()
    con.close()
    return [dict(zip(cols, r, strict=True)) for r in rows]


def _available_engines() -> list[str]:
    import importlib.util

    from harness import SESSIONS

    return [name for name in SESSIONS if importlib.util.find_spec(SESSIONS[name].partition(":")[0]) is not None]


ENGINES = _available_engines()


@pytest.fixture(scope="session", params=ENGINES)
def engine_harness(request: pytest.FixtureRequest):
    """Each engine once per test session (clusters, emulators and SparkSessions are slow to start),
    shared by test_cross_engine.py and test_incremental.py; every test reloads the source there."""
    from harness import open_session

    with open_session(request.param) as harness:
        yield harness
