"""The seed's extra models: the --count-event column rule, its errors, how the option arrives,
event names that need escaping counted on real engines, and the report's file safety."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlglot
from click.testing import CliRunner
from compare import assert_matches_reference
from reference import compute

from journey_sql.cli.app import cli
from journey_sql.core.errors import ConfigError
from journey_sql.dialects.transforms import redshift_epoch_us, rewrite_epoch_us
from journey_sql.settings.options import Settings, count_column


@pytest.mark.parametrize(
    ("event", "column"),
    [
        ("Product Viewed", "cnt_product_viewed"),
        ("signup", "cnt_signup"),
        ("  --Add to cart!! ", "cnt_add_to_cart"),
        ("checkout.step-2", "cnt_checkout_step_2"),
        ("Ärger", "cnt_rger"),  # only a-z and 0-9 survive
        ("2FA enabled", "cnt_2fa_enabled"),
    ],
)
def test_count_column_rule(event: str, column: str) -> None:
    assert count_column(event) == column


@pytest.mark.parametrize(
    ("events", "message"),
    [
        (["Page Viewed", "page viewed"], "would both be counted in the column cnt_page_viewed"),
        (["!!!"], "has no letter or digit"),
        (["x" * 60], "longer than 63 characters"),
        ([""], "needs an event name"),
    ],
)
def test_count_event_errors(events: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.create(count_events=events)


def test_the_same_event_twice_is_counted_once() -> None:
    assert Settings.create(count_events=["signup", "signup"]).count_columns == ("cnt_signup",)


def _render(args: list[str], env: dict[str, str] | None = None) -> str:
    result = CliRunner().invoke(cli, ["render", "--stage", "dbt_session_track_facts", *args], env=env)
    assert result.exit_code == 0, result.output
    return result.output


def test_count_event_from_flag_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = _render(["--count-event", "Product Viewed", "--count-event", "signup"])
    assert "f.event = 'Product Viewed' THEN 1 ELSE 0 END) AS BIGINT) AS cnt_product_viewed" in out
    assert "AS cnt_signup" in out
    out = _render([], env={"JOURNEY_SQL_COUNT_EVENTS": "Order Completed, Cart Viewed"})
    assert "AS cnt_order_completed" in out and "AS cnt_cart_viewed" in out
    monkeypatch.chdir(tmp_path)
    (tmp_path / "journey-sql.toml").write_text('count_events = ["Product Added"]\n')
    assert "AS cnt_product_added" in _render([])
    assert "AS cnt_product_added" not in _render(["--count-event", "signup"])  # the flag wins


def test_count_event_collision_is_one_line() -> None:
    result = CliRunner().invoke(
        cli, ["render", "--count-event", "Page Viewed", "--count-event", "page-viewed"], catch_exceptions=False
    )
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and "cnt_page_viewed" in result.output


def test_redshift_epoch_is_one_operand() -> None:
    """Subtracting one epoch from another must subtract the whole of it, minutes and seconds."""
    tree = sqlglot.parse_one("SELECT epoch_us(a) - epoch_us(b)", read="duckdb")
    sql = rewrite_epoch_us(redshift_epoch_us)(tree).sql("redshift")
    assert sql.startswith("SELECT (CAST(") and ") - (CAST(" in sql and sql.endswith("))")


# Names that must be escaped in a string literal, counted on real engines.
ODD = ("O'Brien \\ quiz", "100% 'done'")


def _odd_rows() -> list[dict]:
    t0 = datetime(2026, 5, 1, 9, 0)
    events = [ODD[0], "x", ODD[0], ODD[1], ODD[0].upper()]
    return [
        {
            "id": f"e{k}",
            "anonymous_id": "anon",
            "user_id": None,
            "event": e,
            "timestamp": t0 + timedelta(seconds=k),
            "received_at": t0,
        }
        for k, e in enumerate(events)
    ]


def test_odd_event_names_counted_on_duckdb(duckdb_harness) -> None:
    rows = _odd_rows()
    s = Settings.create(count_events=ODD)
    duckdb_harness.load(rows)
    duckdb_harness.run(s)
    assert_matches_reference(duckdb_harness.fetch(s), compute(rows, 30, 5, ODD), "duckdb")
    assert duckdb_harness.fetch(s)["dbt_session_track_facts"][0][3:] == (2, 1)


def test_odd_event_names_counted_on_postgres() -> None:
    pytest.importorskip("psycopg", reason="psycopg is not installed: pip install 'journey-sql[postgres]'")
    from engines.pg import PostgresHarness, postgres_engine, shared_cluster

    cluster = shared_cluster()
    h = PostgresHarness(postgres_engine(cluster.database("jsql_odd_names", fresh=True), cluster))
    try:
        rows = _odd_rows()
        s = Settings.create(count_events=ODD)
        h.load(rows)
        h.run(s)
        assert_matches_reference(h.fetch(s), compute(rows, 30, 5, ODD), "postgres")
    finally:
        h.close()


def test_report_never_replaces_a_file_it_did_not_write(tmp_path: Path) -> None:
    from journey_sql.answers.report import write_report
    from journey_sql.core.errors import JourneyError

    mine = tmp_path / "notes.html"
    mine.write_text("<html>my notes</html>")
    with pytest.raises(JourneyError, match="was not written by journey-sql"):
        write_report(None, mine)  # type: ignore[arg-type]  # refused before anything is rendered
    assert mine.read_text() == "<html>my notes</html>"
