"""read_frame / read_batches: the same frames from SQLite and PostgreSQL, streamed in
batches, errors classified for retries.

The same generated demo data (same seed and size) goes into a SQLite file and a scratch
PostgreSQL database; every reader must return identical frames typed as the report says.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import polars as pl
import psycopg
import pytest
from polars.testing import assert_frame_equal
from sqlalchemy import column, func, literal, literal_column, select, table
from sqlalchemy.engine import make_url

from catalog.registry import get_report
from catalog.sources import verification_events
from catalog.verifyhuman import SCHEMA, SOURCE_COLUMNS
from demo_data.generate import generate
from report_exports.errors import QueryError, TransientSourceError
from tasks.extract import write_batches
from tasks.plan import base_query
from tasks.source_reader import read_batches, read_frame
from tests.postgres import libpq, scratch_database, server_url

ROWS, SEED = 3000, 11
CASES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "verifyhuman datetime window": (
        "verifyhuman",
        "full-v21",
        {"env": "live", "from": "2025-11-15", "to": "2025-12-31"},
    ),
    "hienergy join with boolean filter": (
        "hienergy",
        "clicks_details_excel",
        {"search_params": {"converted": True, "from": "2025-10-01", "to": "2026-01-31"}},
    ),
    "hienergy join with list filter": (
        "hienergy",
        "deals_excel",
        {"search_params": {"category": ["Electronics", "Home & Garden"], "exclusive": False}},
    ),
    "webhooks string params": (
        "webhooks",
        "message-log",
        {
            "start_time": "2025-10-01T00:00:00Z",
            "end_time": "2026-01-31T23:59:59Z",
            "status": "failed_permanent",
            "direction": "outbound",
        },
    ),
}


def _case(name: str) -> tuple[Any, dict[str, Any]]:
    surface, report_type, params = CASES[name]
    report = get_report(surface, report_type)
    stmt = base_query(report, report.params_model.model_validate(params), 1)
    order = [c for c in (report.chunk_column, report.tie_breaker) if c is not None]
    return stmt.order_by(*order), report.schema


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


MISSING_TABLE = select(table("no_such_table", column("id")).c.id)
# Every event, in a stable order: more rows than one small batch holds.
ALL_EVENTS = select(*(verification_events.c[n] for n in SOURCE_COLUMNS)).order_by(
    verification_events.c.id
)


# --- Sources ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres_server() -> str:
    """The test PostgreSQL server's URL."""
    return server_url()


@pytest.fixture(scope="module")
def postgres_source(postgres_server: str) -> Iterator[str]:
    """A scratch PostgreSQL database holding the demo data."""
    with scratch_database(postgres_server) as url:
        generate(url, ROWS, seed=SEED)
        yield url


@pytest.fixture(scope="module")
def sqlite_source(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite file holding the same demo data."""
    url = f"sqlite:///{tmp_path_factory.mktemp('source') / 'demo.db'}"
    generate(url, ROWS, seed=SEED)
    return url


# --- SQLite ------------------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(CASES))
def test_sqlite_adbc_and_sqlalchemy_readers_agree(case: str, sqlite_source: str) -> None:
    stmt, schema = _case(case)
    adbc = read_frame(stmt, sqlite_source, schema, "adbc")
    assert adbc.height > 0, "the case selects rows"
    assert dict(adbc.schema) == {name: schema[name] for name in adbc.columns}
    assert_frame_equal(adbc, read_frame(stmt, sqlite_source, schema, "sqlalchemy"))


def test_sqlite_missing_table_is_a_permanent_query_error(sqlite_source: str) -> None:
    with pytest.raises(QueryError) as caught:
        read_frame(MISSING_TABLE, sqlite_source, {})
    assert not isinstance(caught.value, TransientSourceError)


# --- PostgreSQL --------------------------------------------------------------------------


@pytest.mark.parametrize("reader", ["adbc", "sqlalchemy"])
def test_unreachable_postgres_is_transient(reader: str) -> None:
    url = f"postgresql+psycopg://postgres:postgres@127.0.0.1:{_free_port()}/postgres"
    with pytest.raises(TransientSourceError):
        read_frame(MISSING_TABLE, url, {}, reader)


@pytest.mark.postgres
@pytest.mark.parametrize("case", sorted(CASES))
def test_postgres_frames_equal_sqlite_frames(
    case: str, sqlite_source: str, postgres_source: str
) -> None:
    stmt, schema = _case(case)
    expected = read_frame(stmt, sqlite_source, schema)
    assert expected.height > 0, "the case selects rows"
    for reader in ("auto", "adbc", "sqlalchemy"):
        assert_frame_equal(read_frame(stmt, postgres_source, schema, reader), expected)


@pytest.mark.postgres
@pytest.mark.parametrize("reader", ["adbc", "sqlalchemy"])
def test_postgres_missing_table_is_a_permanent_query_error(
    reader: str, postgres_source: str
) -> None:
    with pytest.raises(QueryError) as caught:
        read_frame(MISSING_TABLE, postgres_source, {}, reader)
    assert not isinstance(caught.value, TransientSourceError)
    assert "no_such_table" in str(caught.value)


@pytest.mark.postgres
def test_postgres_connection_terminated_mid_query_is_transient(postgres_source: str) -> None:
    database = make_url(postgres_source).database
    outcome: dict[str, BaseException] = {}

    def slow_read() -> None:
        try:
            read_frame(select(func.pg_sleep(30).label("slept")), postgres_source, {}, "adbc")
        except BaseException as exc:  # handed to the test thread
            outcome["error"] = exc

    reader = threading.Thread(target=slow_read)
    reader.start()
    with psycopg.connect(libpq(postgres_source, "postgres"), autocommit=True) as admin:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            terminated = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND query LIKE %s AND pid <> pg_backend_pid()",
                (database, "%pg_sleep%"),
            ).fetchall()
            if terminated:
                break
            time.sleep(0.05)
    reader.join(timeout=20)
    assert terminated, "the slow query was seen and terminated"
    assert isinstance(outcome.get("error"), TransientSourceError), outcome


@pytest.mark.postgres
def test_postgres_timestamptz_and_numeric_are_conformed(postgres_source: str) -> None:
    stmt = select(
        literal_column("TIMESTAMPTZ '2025-12-01 12:00:00.5+02'").label("at"),
        literal_column("1.25::numeric").label("amount"),
        literal_column("7::smallint").label("count"),
        literal_column("true").label("flag"),
    )
    schema = {"at": pl.Datetime("us"), "amount": pl.Float64, "count": pl.Int64, "flag": pl.Boolean}
    for reader in ("adbc", "sqlalchemy"):
        frame = read_frame(stmt, postgres_source, schema, reader)
        assert dict(frame.schema) == schema
        assert frame.row(0) == (datetime(2025, 12, 1, 10, 0, 0, 500_000), 1.25, 7, True)


@pytest.mark.postgres
@pytest.mark.parametrize(
    "text",
    ["o'brien", "back\\slash\\'", "x'); DROP TABLE verification_events; --", "$1 $2", "€ 名前"],
)
def test_postgres_values_inlined_for_adbc_read_back_exactly(
    text: str, postgres_source: str
) -> None:
    stmt = select(literal(text).label("text"), literal(7).label("n"))
    frame = read_frame(stmt, postgres_source, {"text": pl.String, "n": pl.Int64}, "adbc")
    assert frame.row(0) == (text, 7)
    still_there = select(func.count().label("n")).select_from(table("verification_events"))
    assert read_frame(still_there, postgres_source, {"n": pl.Int64}).item() == ROWS


# --- Streaming in batches ----------------------------------------------------------------


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_small_batches_stream_the_same_rows_and_write_one_parquet_file(
    backend: str, request: pytest.FixtureRequest, tmp_path: Any
) -> None:
    url = request.getfixturevalue(f"{'postgres' if backend == 'postgresql' else 'sqlite'}_source")
    # SQLite's batches hold at least 1,024 rows; PostgreSQL's follow the byte hint.
    frames = list(read_batches(ALL_EVENTS, url, SCHEMA, "adbc", batch_bytes=16_384))
    assert len(frames) >= 2, "several batches, not the whole result at once"
    assert all(dict(f.schema) == dict(frames[0].schema) for f in frames)
    whole = read_frame(ALL_EVENTS, url, SCHEMA, "sqlalchemy")
    assert whole.height == ROWS
    assert_frame_equal(pl.concat(frames), whole)

    parquet = tmp_path / "rows.parquet"
    rows = write_batches(read_batches(ALL_EVENTS, url, SCHEMA, "adbc", batch_bytes=16_384), parquet)
    assert rows == ROWS
    assert_frame_equal(pl.read_parquet(parquet), whole)


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_an_empty_result_is_one_empty_frame_with_typed_columns(
    backend: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue(f"{'postgres' if backend == 'postgresql' else 'sqlite'}_source")
    nothing = ALL_EVENTS.where(verification_events.c.id < 0)
    (frame,) = read_batches(nothing, url, SCHEMA, "adbc")
    assert frame.height == 0
    assert dict(frame.schema) == {name: SCHEMA[name] for name in SOURCE_COLUMNS}


def test_reading_loads_neither_pyarrow_dataset_nor_pandas(sqlite_source: str) -> None:
    """ADBC's DB-API module imports both, pyarrow builders pandas (+54 MB, 0.3 s a process)."""
    import subprocess
    import sys

    probe = (
        "import sys; from sqlalchemy import select; "
        "from catalog.sources import verification_events as e; "
        "from tasks.source_reader import read_frame; "
        "q = select(e.c.id).where(e.c.env == 'live', e.c.risk_score > 1.5).limit(3); "
        f"f = read_frame(q, {sqlite_source!r}, {{}}, 'adbc'); "
        "print(f.height, 'pyarrow.dataset' in sys.modules, 'pandas' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["3", "False", "False"]
