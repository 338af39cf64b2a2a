"""Demo data generator: deterministic, realistic, bulk-loaded into SQLite and PostgreSQL.

Every check reads the database back with an independent reader (the stdlib ``sqlite3``
module, or SQLAlchemy Core on PostgreSQL), never with the generator's own frames.
"""

from __future__ import annotations

import os
import re
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import Integer, cast, create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from demo_data import schema
from demo_data.accounts import DEFAULT_ACCOUNT_ID, DEMO_ACCOUNTS
from demo_data.generate import (
    GeneratedCounts,
    demo_source_ready,
    ensure_demo_source,
    generate,
    scaled_counts,
)
from demo_data.webhooks import uuid7, uuid7_expr

ROWS = 20_000
TABLES = [t.name for t in schema.metadata.sorted_tables]
TIMESTAMPS = {
    "verification_events": ("created_at",),
    "advertisers": ("created_at",),
    "deals": ("starts_at", "ends_at"),
    "clicks": ("clicked_at",),
    "webhook_messages": ("created_at", "last_attempt_at"),
}
STORED_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
WINDOW_FIRST, WINDOW_LAST = "2025-09-01 00:00:00", "2026-02-28 23:59:59"
EPOCH = datetime(1970, 1, 1)
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _url(path: Path) -> str:
    return f"sqlite:///{path}"


def _rows(db: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute(sql, args).fetchall()


def _one(db: Path, sql: str, *args: Any) -> Any:
    return _rows(db, sql, *args)[0][0]


def _dump(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    return {t: _rows(db, f"SELECT * FROM {t} ORDER BY id") for t in TABLES}


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default demo source size (20,000 events), generated once for this module."""
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    counts = generate(_url(path), ROWS, batch_rows=7_000)
    assert counts == scaled_counts(ROWS)
    return path


def test_same_seed_gives_identical_tables_whatever_the_batch_size(tmp_path: Path) -> None:
    first, second, other = tmp_path / "a.db", tmp_path / "b.db", tmp_path / "c.db"
    generate(_url(first), 3_000, seed=11, batch_rows=1_000)
    generate(_url(second), 3_000, seed=11)
    generate(_url(other), 3_000, seed=12)

    dumps = _dump(first)
    assert all(dumps[t] for t in TABLES)
    assert dumps == _dump(second)
    assert dumps["verification_events"] != _dump(other)["verification_events"]


def test_counts_scale_with_rows(db: Path, tmp_path: Path) -> None:
    small = tmp_path / "small.db"
    tiny = generate(_url(small), 10)

    for path, counts in ((small, tiny), (db, scaled_counts(ROWS))):
        assert {t: _one(path, f"SELECT COUNT(*) FROM {t}") for t in TABLES} == {
            t: getattr(counts, t) for t in TABLES
        }
    assert tiny == GeneratedCounts(10, 40, 120, 500, 500)
    big = scaled_counts(1_000_000)
    assert big == GeneratedCounts(1_000_000, 2_000, 10_000, 500_000, 500_000)
    assert big.total == 2_012_000


def test_every_row_belongs_to_a_demo_account(db: Path) -> None:
    ids = {a.id for a in DEMO_ACCOUNTS}
    for table in TABLES:
        owners = dict(_rows(db, f"SELECT account_id, COUNT(*) FROM {table} GROUP BY 1"))
        assert set(owners) == ids, table
        assert owners[DEFAULT_ACCOUNT_ID] / sum(owners.values()) > 0.2, table
    projects = set(_rows(db, "SELECT DISTINCT account_id, project_id FROM webhook_messages"))
    assert projects == {(a.id, a.project_id) for a in DEMO_ACCOUNTS}


def test_related_rows_belong_to_the_same_account(db: Path) -> None:
    assert not _rows(
        db,
        """SELECT d.id FROM deals d JOIN advertisers a ON a.id = d.advertiser_id
        WHERE a.account_id != d.account_id""",
    )
    assert not _rows(
        db,
        """SELECT c.id FROM clicks c LEFT JOIN advertisers a
        ON a.id = c.advertiser_id WHERE a.id IS NULL
        OR a.account_id != c.account_id""",
    )
    assert not _rows(
        db,
        """SELECT c.id FROM clicks c LEFT JOIN deals d ON d.id = c.deal_id
        WHERE c.deal_id IS NOT NULL
        AND (d.id IS NULL OR d.advertiser_id != c.advertiser_id)""",
    )
    keys = _rows(
        db,
        "SELECT account_id, COUNT(DISTINCT api_key_id), COUNT(DISTINCT widget_id)"
        " FROM verification_events GROUP BY 1",
    )
    assert all(3 <= k <= 6 and 2 <= w <= 5 for _, k, w in keys)
    envs = _rows(db, "SELECT DISTINCT env, substr(api_key_id, 1, 9) FROM verification_events")
    assert sorted(envs) == [("live", "key_live_"), ("test", "key_test_")]


def test_timestamps_are_whole_second_text_inside_the_window(db: Path) -> None:
    for table, columns in TIMESTAMPS.items():
        for column in columns:
            stored = _rows(db, f"SELECT DISTINCT typeof({column}) FROM {table}")
            assert set(stored) <= {("text",), ("null",)}, (table, column)
            values = [v for (v,) in _rows(db, f"SELECT {column} FROM {table}") if v is not None]
            assert all(STORED_TIMESTAMP.match(v) for v in values), (table, column)
            assert WINDOW_FIRST <= min(values) <= max(values) <= WINDOW_LAST, (table, column)
    assert not _rows(db, "SELECT id FROM deals WHERE ends_at < starts_at")
    assert not _rows(db, "SELECT id FROM webhook_messages WHERE last_attempt_at < created_at")
    assert _rows(db, "SELECT DISTINCT typeof(converted) FROM clicks") == [("integer",)]


def test_every_day_has_live_events_of_the_default_account(db: Path) -> None:
    days = _rows(
        db,
        """SELECT date(created_at), COUNT(*) FROM verification_events
        WHERE account_id = ? AND env = 'live' GROUP BY 1 ORDER BY 1""",
        DEFAULT_ACCOUNT_ID,
    )
    expected = [str(date(2025, 9, 1) + timedelta(days=n)) for n in range(181)]
    assert [day for day, _ in days] == expected
    by_weekday = dict(
        _rows(
            db,
            """SELECT strftime('%w', created_at), COUNT(*)
        FROM verification_events GROUP BY 1""",
        )
    )
    assert by_weekday["0"] < 0.8 * by_weekday["3"]  # Sundays are quieter than Wednesdays
    by_hour = dict(
        _rows(db, "SELECT strftime('%H', created_at), COUNT(*) FROM verification_events GROUP BY 1")
    )
    assert by_hour["14"] > 2 * by_hour["03"]  # daytime peak


def test_distributions_are_plausible(db: Path) -> None:
    live = _one(db, "SELECT AVG(env = 'live') FROM verification_events")
    assert 0.75 <= live <= 0.95
    outcomes = dict(_rows(db, "SELECT outcome, COUNT(*) FROM verification_events GROUP BY 1"))
    assert set(outcomes) == set(schema.VERIFICATION_OUTCOMES)
    assert max(outcomes, key=outcomes.__getitem__) == "passed"
    risk = dict(_rows(db, "SELECT outcome, AVG(risk_score) FROM verification_events GROUP BY 1"))
    assert risk["passed"] < risk["challenged"] < risk["failed"]
    assert _rows(
        db,
        """SELECT MIN(risk_score) >= 0, MAX(risk_score) <= 100, MIN(confidence) >= 0,
        MAX(confidence) <= 1, MIN(latency_ms) >= 80, MAX(latency_ms) <= 3000
        FROM verification_events""",
    ) == [(1, 1, 1, 1, 1, 1)]
    assert _one(db, "SELECT COUNT(DISTINCT product) FROM verification_events") == len(
        schema.PRODUCTS
    )
    v21_by_month = _rows(
        db,
        """SELECT strftime('%Y-%m', created_at) AS month, AVG(api_version = 'v2.1')
        FROM verification_events GROUP BY month ORDER BY month""",
    )
    first, last = v21_by_month[0][1], v21_by_month[-1][1]
    assert 0 < first < last < 1
    assert _rows(
        db, "SELECT DISTINCT credits FROM verification_events WHERE api_version = 'v1'"
    ) == [(1.0,)]
    statuses = {s for (s,) in _rows(db, "SELECT DISTINCT status FROM webhook_messages")}
    assert statuses == set(schema.WEBHOOK_STATUSES)
    outbound = _one(db, "SELECT AVG(direction = 'outbound') FROM webhook_messages")
    assert 0.7 < outbound < 0.9
    assert not _rows(
        db,
        """SELECT seq FROM webhook_messages WHERE
        (direction = 'outbound') != (endpoint_id IS NOT NULL AND inbound_endpoint_id IS NULL)
        OR (status = 'pending') != (response_status IS NULL)""",
    )
    converted = _one(db, "SELECT AVG(converted) FROM clicks")
    assert 0.03 <= converted <= 0.08
    assert _rows(
        db,
        """SELECT converted, MIN(revenue) > 0, MAX(revenue) = 0 FROM clicks
        GROUP BY 1 ORDER BY 1""",
    ) == [(0, 0, 1), (1, 1, 0)]


def test_texts_that_exports_must_neutralise_are_present(db: Path) -> None:
    texts = [
        t for (t,) in _rows(db, "SELECT name FROM advertisers UNION ALL SELECT title FROM deals")
    ]
    assert any("," in t for t in texts)
    assert any('"' in t for t in texts)
    assert any(not t.isascii() for t in texts)
    for trigger in "=+-@":
        assert any(t.startswith(trigger) for t in texts), trigger
    own = _rows(db, "SELECT name FROM advertisers WHERE account_id = ?", DEFAULT_ACCOUNT_ID)
    assert {"Café Müller, GmbH", '"Best" Deals Outlet', "=Equals Home & Garden"} <= {
        n for (n,) in own
    }
    sub_ids = {s for (s,) in _rows(db, "SELECT DISTINCT sub_id FROM clicks")}
    assert None in sub_ids and "email,weekly" in sub_ids and "=1+2" in sub_ids
    assert _one(db, "SELECT COUNT(*) FROM deals WHERE code IS NULL") > 0


def test_webhook_ids_are_unique_uuid7_carrying_created_at(db: Path) -> None:
    rows = _rows(db, "SELECT id, seq, created_at FROM webhook_messages ORDER BY seq")
    assert [seq for _, seq, _ in rows] == list(range(1, len(rows) + 1))
    assert len({i for i, _, _ in rows}) == len(rows)
    for text_id, _, created_at in rows:
        parsed = uuid.UUID(text_id)
        assert parsed.version == 7 and str(parsed) == text_id
        seconds = (parsed.int >> 80) // 1000
        assert EPOCH + timedelta(seconds=seconds) == datetime.fromisoformat(created_at)
    created = [c for _, _, c in rows]
    assert created == sorted(created)  # seq follows time, like an append-only log


def test_uuid7_helpers_agree() -> None:
    cases = [(0, 0, 0), (1_764_547_200_123, 0xABC, (1 << 62) - 1), ((1 << 48) - 1, 4095, 12345)]
    frame = pl.DataFrame(
        cases,
        schema=["ms", "a", "b"],
        orient="row",
        schema_overrides={"ms": pl.UInt64, "a": pl.UInt64, "b": pl.UInt64},
    )
    texts = frame.select(uuid7_expr(pl.col("ms"), pl.col("a"), pl.col("b")))[:, 0].to_list()
    assert texts == [uuid7(ms, a, b) for ms, a, b in cases]
    assert all(uuid.UUID(t).version == 7 for t in texts)
    assert uuid.UUID(uuid7(1_764_547_200_123, 1, 2)).int >> 80 == 1_764_547_200_123


def test_ensure_demo_source_generates_only_when_missing_or_empty(tmp_path: Path) -> None:
    url = _url(tmp_path / "nested" / "demo.db")
    assert not demo_source_ready(url)
    assert ensure_demo_source(url, 500) is True
    before = _dump(tmp_path / "nested" / "demo.db")
    assert ensure_demo_source(url, 500) is False
    assert ensure_demo_source(url, 9_999) is False  # present is enough, whatever its size
    assert _dump(tmp_path / "nested" / "demo.db") == before
    with closing(sqlite3.connect(tmp_path / "nested" / "demo.db")) as conn, conn:
        conn.execute("DELETE FROM clicks")
    assert ensure_demo_source(url, 500) is True
    assert _one(tmp_path / "nested" / "demo.db", "SELECT COUNT(*) FROM clicks") == 500


def test_indexes_exist_and_statistics_are_fresh(db: Path) -> None:
    names = {n for (n,) in _rows(db, "SELECT name FROM sqlite_master WHERE type = 'index'")}
    expected = {ix.name for t in schema.metadata.sorted_tables for ix in t.indexes}
    assert expected <= names
    analysed = {t for (t,) in _rows(db, "SELECT DISTINCT tbl FROM sqlite_stat1")}
    assert analysed == set(TABLES)


# --- PostgreSQL -------------------------------------------------------------------------


@pytest.fixture
def scratch_postgres() -> Iterator[str]:
    """A throw-away database on the test PostgreSQL server (skips when there is none)."""
    server_url = os.environ.get("REPORT_EXPORTS_TEST_POSTGRES_URL", DEFAULT_PG_URL)
    name = f"demo_data_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(
        server_url,
        poolclass=NullPool,
        isolation_level="AUTOCOMMIT",
        connect_args={"connect_timeout": 3},
    )
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        reason = str(exc.orig).splitlines()[0]
        pytest.skip(f"PostgreSQL not reachable at {make_url(server_url)!r}: {reason}")
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _summaries(url: str) -> dict[str, Any]:
    """Counts, aggregates and full contents, read with SQLAlchemy Core (same query on both)."""
    ve, ck, wm = schema.verification_events, schema.clicks, schema.webhook_messages
    queries = {
        "events": select(
            ve.c.account_id,
            ve.c.env,
            func.count(),
            func.sum(ve.c.latency_ms),
            func.min(ve.c.created_at),
            func.max(ve.c.created_at),
        )
        .group_by(ve.c.account_id, ve.c.env)
        .order_by(ve.c.account_id, ve.c.env),
        "clicks": select(
            ck.c.account_id,
            func.count(),
            func.sum(cast(ck.c.converted, Integer)),
            func.sum(ck.c.revenue),
        )
        .group_by(ck.c.account_id)
        .order_by(ck.c.account_id),
        "messages": select(
            wm.c.status, func.count(), func.sum(wm.c.attempts), func.max(wm.c.last_attempt_at)
        )
        .group_by(wm.c.status)
        .order_by(wm.c.status),
    }
    for table in schema.metadata.sorted_tables:
        queries[f"count {table.name}"] = select(func.count()).select_from(table)
        queries[f"rows {table.name}"] = select(table).order_by(table.c.id)
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return {key: [_normalise(row) for row in conn.execute(q)] for key, q in queries.items()}
    finally:
        engine.dispose()


def _normalise(row: Any) -> tuple[Any, ...]:
    # Float sums depend on summation order; 6 decimals is far below any real difference.
    return tuple(round(v, 6) if isinstance(v, float) else v for v in row)


@pytest.mark.postgres
def test_postgres_load_matches_sqlite(scratch_postgres: str, tmp_path: Path) -> None:
    sqlite_url = _url(tmp_path / "demo.db")
    counts = generate(scratch_postgres, 5_000, batch_rows=2_000)
    assert counts == generate(sqlite_url, 5_000)

    on_postgres, on_sqlite = _summaries(scratch_postgres), _summaries(sqlite_url)
    assert on_postgres["count clicks"] == [(counts.clicks,)]
    for key in on_sqlite:
        assert on_postgres[key] == on_sqlite[key], key
    assert ensure_demo_source(scratch_postgres, 5_000) is False

    engine = create_engine(scratch_postgres, poolclass=NullPool)
    with engine.connect() as conn:
        types: dict[str, str] = dict(
            conn.execute(
                text(
                    "SELECT column_name, data_type FROM information_schema.columns"
                    " WHERE table_name = 'clicks' AND column_name IN ('clicked_at', 'converted')"
                )
            )
            .tuples()
            .all()
        )
        next_id = conn.execute(text("SELECT nextval(pg_get_serial_sequence('clicks', 'id'))"))
        assert next_id.scalar_one() == counts.clicks + 1
    engine.dispose()
    assert types == {"clicked_at": "timestamp without time zone", "converted": "boolean"}
