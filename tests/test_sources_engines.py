"""Sources under other names, types and layouts, on DuckDB and PostgreSQL, held to the plain-Python reference.

The reference sees the events as the plain tracks layout would hold them; each
engine reads them from tables shaped like someone else's: epoch milliseconds,
ISO strings, TIMESTAMPTZ with an offset, Snowplow's atomic.events, Segment's
tracks and pages.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from compare import assert_matches_reference
from harness import open_session
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import compute
from strategies import examples, pipeline_case

from journey_sql.settings.options import Settings

TYPES = {
    "string": {"duckdb": "VARCHAR", "postgres": "text"},
    "bigint": {"duckdb": "BIGINT", "postgres": "bigint"},
    "tstz": {"duckdb": "TIMESTAMPTZ", "postgres": "timestamptz"},
    "ts": {"duckdb": "TIMESTAMP", "postgres": "timestamp"},
}
OFFSET = timezone(timedelta(hours=5, minutes=30))
EPOCH = datetime(1970, 1, 1)


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def engine_harness(request: pytest.FixtureRequest):
    if request.param == "duckdb":
        with open_session("duckdb") as harness:
            yield harness
        return
    from engines.pg import PostgresHarness, postgres_engine

    # a database of its own: the cross-engine suite keeps views in its database's rudder and atomic schemas
    harness = PostgresHarness(postgres_engine("jsql_sources_pg"))
    try:
        yield harness
    finally:
        harness.close()


def create_table(harness: Any, table: str, columns: list[tuple[str, str]], rows: list[list[Any]]) -> None:
    """A source table of any shape, typed the engine's way, in schema `rudder` (or `atomic.events`)."""
    engine = harness.engine
    schema = table.rpartition(".")[0]
    engine.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    engine.execute(f"DROP TABLE IF EXISTS {table}")
    defs = ", ".join(f'"{c}" {TYPES[t][harness.name]}' for c, t in columns)
    engine.execute(f"CREATE TABLE {table} ({defs})")
    if not rows:
        return
    if harness.name == "duckdb":
        engine.con.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' for _ in columns)})", rows)
    else:
        harness._insert(f"INSERT INTO {table} VALUES ({', '.join('%s' for _ in columns)})", rows)


def _ms(ts: datetime | None) -> datetime | None:
    return None if ts is None else ts.replace(microsecond=ts.microsecond // 1000 * 1000)


ENCODINGS = {
    # name: (column type, value written, the expression that reads it back, value the reference sees)
    "epoch_ms": ("bigint", lambda t: (_ms(t) - EPOCH) // timedelta(milliseconds=1), "epoch_ms({c})", _ms),
    "iso": ("string", lambda t: t.isoformat(), "CAST({c} AS TIMESTAMP)", lambda t: t),
    "tstz": ("tstz", lambda t: t.replace(tzinfo=UTC).astimezone(OFFSET), "{c}", lambda t: t),
}


@given(pipeline_case(), st.sampled_from(sorted(ENCODINGS)), st.sampled_from(sorted(ENCODINGS)))
@settings(max_examples=examples(12))
def test_other_names_and_types_match_the_plain_layout(engine_harness, data, ts_enc: str, rec_enc: str) -> None:
    timeout, depth, rows = data
    ts_type, ts_write, ts_read, ts_seen = ENCODINGS[ts_enc]
    rec_type, rec_write, rec_read, rec_seen = ENCODINGS[rec_enc]
    columns = [
        ("event_id", "string"),
        ("anon", "string"),
        ("uid", "string"),
        ("event", "string"),  # a coarse name; the real one is in event_text
        ("event_text", "string"),
        ("sent", ts_type),
        ("arrived", rec_type),
    ]
    values = [
        [
            r["id"],
            r["anonymous_id"],
            r["user_id"],
            "Feature Used",
            r["event"],
            None if r["timestamp"] is None else ts_write(r["timestamp"]),
            None if r["received_at"] is None else rec_write(r["received_at"]),
        ]
        for r in rows
    ]
    create_table(engine_harness, "rudder.raw_events", columns, values)
    s = Settings.create(
        source_table="raw_events",
        session_timeout=timeout,
        depth=depth,
        columns=[
            "id=event_id",
            "anonymous_id=anon",
            "user_id=uid",
            "event=event_text",
            f"timestamp={ts_read.format(c='sent')}",
            f"received_at={rec_read.format(c='arrived')}",
        ],
    )
    report = engine_harness.run(s)
    plain = [
        {
            **r,
            "timestamp": None if r["timestamp"] is None else ts_seen(r["timestamp"]),
            "received_at": None if r["received_at"] is None else rec_seen(r["received_at"]),
        }
        for r in rows
    ]
    expected = compute(plain, timeout, depth)
    assert_matches_reference(engine_harness.fetch(s), expected, f"{engine_harness.name} {ts_enc}/{rec_enc}")
    assert report.source.rows == len(rows)


SNOWPLOW_COLUMNS = [
    ("app_id", "string"),
    ("collector_tstamp", "ts"),
    ("derived_tstamp", "ts"),
    ("dvce_created_tstamp", "ts"),
    ("event_name", "string"),
    ("event_id", "string"),
    ("network_userid", "string"),
    ("domain_userid", "string"),
    ("user_id", "string"),
    ("page_urlpath", "string"),
]


@given(pipeline_case())
@settings(max_examples=examples(6))
def test_snowplow_shaped_table_matches_reference(engine_harness, data) -> None:
    timeout, depth, rows = data
    values = [
        [
            "site",
            r["received_at"],
            r["timestamp"],
            r["timestamp"],
            r["event"],
            r["id"],
            "nuid",
            r["anonymous_id"],
            r["user_id"],
            "/pricing",
        ]
        for r in rows
    ]
    create_table(engine_harness, "atomic.events", SNOWPLOW_COLUMNS, values)
    s = Settings.create(layout="snowplow", session_timeout=timeout, depth=depth)
    engine_harness.run(s)
    assert_matches_reference(engine_harness.fetch(s), compute(rows, timeout, depth), f"{engine_harness.name} snowplow")


SEGMENT_TRACKS = [
    ("id", "string"),
    ("anonymous_id", "string"),
    ("user_id", "string"),
    ("event", "string"),
    ("event_text", "string"),
    ("timestamp", "tstz"),
    ("original_timestamp", "tstz"),
    ("sent_at", "tstz"),
    ("received_at", "tstz"),
    ("uuid_ts", "tstz"),
    ("context_library_name", "string"),
]
SEGMENT_PAGES = [
    ("id", "string"),
    ("anonymous_id", "string"),
    ("user_id", "string"),
    ("name", "string"),
    ("path", "string"),
    ("timestamp", "tstz"),
    ("received_at", "tstz"),
]


@given(pipeline_case(), st.lists(st.booleans(), min_size=200, max_size=200))
@settings(max_examples=examples(6))
def test_segment_tracks_and_pages_match_reference(engine_harness, data, is_page: list[bool]) -> None:
    timeout, depth, rows = data
    tracks, pages, union = [], [], []
    for r, page in zip(rows, is_page, strict=False):
        ts, rec = r["timestamp"], r["received_at"]
        aware = [None if v is None else v.replace(tzinfo=UTC) for v in (ts, rec)]
        if page:
            pages.append([r["id"], r["anonymous_id"], r["user_id"], r["event"], "/p", aware[0], aware[1]])
            union.append({**r, "event": "Page" if r["event"] is None else f"Page: {r['event']}"})
        else:
            tracks.append(
                [
                    r["id"],
                    r["anonymous_id"],
                    r["user_id"],
                    r["event"],
                    r["event"],
                    aware[0],
                    aware[0],
                    aware[0],
                    aware[1],
                    aware[1],
                    "analytics.js",
                ]
            )
            union.append(r)
    # a schema of its own: the cross-engine suite shares this database and has a view called rudder.pages
    create_table(engine_harness, "segment.tracks", SEGMENT_TRACKS, tracks)
    create_table(engine_harness, "segment.pages", SEGMENT_PAGES, pages)
    s = Settings.create(
        layout="segment",
        source_schema="segment",
        source_table=["tracks", "pages"],
        session_timeout=timeout,
        depth=depth,
    )
    engine_harness.run(s)
    assert_matches_reference(engine_harness.fetch(s), compute(union, timeout, depth), f"{engine_harness.name} segment")


@pytest.mark.parametrize(
    ("column", "message"),
    [
        ("timestamp=event_text", "(expected a timestamp type"),
        ("timestamp=sent", "epoch_ms(sent) for epoch milliseconds"),  # epoch ms stored as bigint
        ("user_id=CAST(uid AS INT)", "user_id is not a string"),
        ("event=LENGTH(event_text)", "event is not a string"),
        ("event=no_such(event_text)", "does not run on"),
    ],
)
def test_wrong_types_are_caught_before_anything_runs(engine_harness, column: str, message: str) -> None:
    """Postgres cannot describe a query's types without preparing it: they are inferred from the catalog."""
    from journey_sql.core.errors import SourceError
    from journey_sql.run.checks import check_source

    columns = [
        ("event_id", "string"),
        ("anon", "string"),
        ("uid", "string"),
        ("event_text", "string"),
        ("sent", "bigint"),
        ("arrived", "tstz"),
    ]
    create_table(engine_harness, "rudder.typed_events", columns, [])
    base = {
        "id": "event_id",
        "anonymous_id": "anon",
        "user_id": "uid",
        "event": "event_text",
        "timestamp": "epoch_ms(sent)",
        "received_at": "arrived",
    }
    key, _, value = column.partition("=")
    check_source(engine_harness.engine, Settings.create(source_table="typed_events", columns=base))  # fine
    s = Settings.create(source_table="typed_events", columns={**base, key: value})
    with pytest.raises(SourceError, match=re.escape(message)):
        check_source(engine_harness.engine, s)
