"""CSV records written by PostgreSQL (COPY ... CSV) are the records polars writes.

Every test reads the same rows of a real PostgreSQL database two ways: the COPY path of
``tasks/postgres_csv.py``, and ADBC into polars encoded by ``write_csv_records`` (the path
SQLite sources and other formats take). The bytes must be identical: random values from
hypothesis, hand-picked edges (every float layout boundary, formula triggers, quotes and
line breaks in text, nulls and empty strings), and every CSV row report of the catalog on
the demo data.
"""

from __future__ import annotations

import csv
import io
import math
import struct
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import polars as pl
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import (
    REAL,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Integer,
    MetaData,
    Numeric,
    Table,
    Text,
    cast,
    func,
    select,
)

from catalog.documents import ColumnKind as K
from catalog.documents import ColumnSpec
from catalog.registry import CATALOGS, validate_request
from demo_data.generate import generate
from report_exports.errors import QueryError, TransientSourceError
from tasks.extract import write_csv_batches, write_csv_part
from tasks.plan import base_query, global_order
from tasks.postgres_csv import CrlfRecords, copy_csv_records, csv_cells_statement
from tasks.source_reader import POSTGRES_READ_SETTINGS, read_batches, read_frame
from tests.postgres import libpq, scratch_database, server_url

pytestmark = pytest.mark.postgres

metadata = MetaData()
cells = Table(
    "cells",
    metadata,
    Column("n", Integer, primary_key=True),
    Column("t", Text),
    Column("f", Float),
    Column("i", BigInteger),
    Column("b", Boolean),
    Column("ts", DateTime),
    Column("tstz", DateTime(timezone=True)),
    Column("d", Date),
    Column("ts_as_date", DateTime),
    Column("money", Numeric(12, 2)),
    Column("small_float", REAL),
)
COLUMNS = (
    ColumnSpec("t", "Text"),
    ColumnSpec("f", "Float", K.FLOAT),
    ColumnSpec("i", "Integer", K.INTEGER),
    ColumnSpec("b", "Flag", K.BOOLEAN),
    ColumnSpec("ts", "Naive", K.DATETIME),
    ColumnSpec("tstz", "Aware", K.DATETIME),
    ColumnSpec("d", "Date", K.DATE),
    ColumnSpec("ts_as_date", "Day", K.DATE),
)
SCHEMA: dict[str, Any] = {
    "t": pl.String,
    "f": pl.Float64,
    "i": pl.Int64,
    "b": pl.Boolean,
    "ts": pl.Datetime("us"),
    "tstz": pl.Datetime("us"),
    "d": pl.Date,
    "ts_as_date": pl.Datetime("us"),
}
INSERT = (
    "INSERT INTO cells (t, f, i, b, ts, tstz, d, ts_as_date)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
)


def _edge_floats() -> list[float]:
    """Values at and around every place where the two layouts could part."""
    values = [0.0, -0.0, math.nan, math.inf, -math.inf, 5e-324, -5e-324, 2.2250738585072014e-308]
    values += [1.7976931348623157e308, 0.1, 0.30000000000000004, 1 / 3, 2.0**53, 2.0**53 + 2]
    for exponent in range(-325, 309):
        for mantissa in (1.0, 1.5, 9.999999999999998, 1.2345678901234567):
            value = float(f"{mantissa}e{exponent}")
            values += [value, -value, math.nextafter(value, math.inf)]
    values += [1234567890123456.8, 1e15 + 0.5, 9999999999999998.0, 123456789012345.6]
    return values


EDGE_TEXTS = [
    "=SUM(A1:A2)",
    "+1",
    "-2",
    "@cmd",
    "\tTab",
    "\rCR",
    "\nLF",
    "'quoted already",
    "plain",
    "",
    " spaced ",
    "a,b",
    'say "hi"',
    '"',
    "line\nbreak",
    "cr\rinside",
    "crlf\r\nin",
    "\\.",
    "é ü 漢字 🙂",
    "A",
    "@",
    "=",
    "0 starts with a digit",
    "!bang",
    "~tilde",
    'ab"c,d\ne',
]


@pytest.fixture(scope="module")
def source() -> Iterator[str]:
    """A scratch database holding the ``cells`` table."""
    with scratch_database(server_url(), prefix="rex_pgcsv") as url:
        with psycopg.connect(libpq(url), autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE cells (n serial PRIMARY KEY, t text, f float8, i bigint, "
                "b boolean, ts timestamp, tstz timestamptz, d date, ts_as_date timestamp, "
                "money numeric(12, 2), small_float real)"
            )
        yield url


def _load(url: str, rows: list[tuple[Any, ...]]) -> None:
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute("TRUNCATE cells RESTART IDENTITY")
        with conn.cursor() as cur:
            cur.executemany(INSERT, rows)


def _both_ways(url: str, columns: tuple[ColumnSpec, ...] = COLUMNS) -> tuple[bytes, bytes]:
    """(COPY's records, polars' records) of every row of ``cells`` in ``n`` order."""
    stmt = select(*cells.c).order_by(cells.c.n)
    statement = csv_cells_statement(stmt, columns)
    assert statement is not None
    copied = io.BytesIO()
    copy_csv_records(statement, url, copied)
    return copied.getvalue(), _polars_records(stmt, url, columns)


def assert_same_records(copied: bytes, encoded: bytes) -> None:
    """Byte-identical, but for PostgreSQL's longer spelling of a few doubles beyond 2**53.

    PostgreSQL's shortest-digits search leaves out the rounding interval's bounds, so a
    double whose shortest decimal lies exactly on one (1e23: ``9.999999999999999e+22``) gets
    more digits than polars gives it; both parse to the same double. Only doubles spaced
    more than 1 apart can sit on such a bound. Any other difference fails.
    """
    if copied == encoded:
        return
    ours, theirs = copied.split(b"\r\n"), encoded.split(b"\r\n")
    assert len(ours) == len(theirs)
    for line, expected in zip(ours, theirs, strict=True):
        if line == expected:
            continue
        float_field = [c.name for c in COLUMNS].index("f")
        a, b = next(csv.reader([line.decode()])), next(csv.reader([expected.decode()]))
        assert a[:float_field] + a[float_field + 1 :] == b[:float_field] + b[float_field + 1 :]
        assert float(a[float_field]) == float(b[float_field]), (line, expected)
        assert abs(float(a[float_field])) >= 2.0**53, (line, expected)


def _polars_records(stmt: Any, url: str, columns: tuple[ColumnSpec, ...]) -> bytes:
    batches = read_batches(stmt, url, SCHEMA, reader="adbc")
    return _written(lambda path: write_csv_batches(batches, columns, path))


def _written(write: Any) -> bytes:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "part.csv"
        write(path)
        return path.read_bytes()


PLUS_FIVE = timezone(timedelta(hours=5))  # a timestamptz is written in UTC


def _row(text: str | None, value: float | None, moment: datetime | None = None) -> tuple[Any, ...]:
    moment = moment or datetime(2025, 11, 5, 13, 14, 15, 999_999)
    return (
        text,
        value,
        -(2**63) if value is None else 2**62,
        None if text is None else len(text) % 2 == 0,
        moment,
        moment.replace(tzinfo=UTC if moment.year in (1, 9999) else PLUS_FIVE),
        moment.date(),
        moment,
    )


def test_edge_values_are_written_byte_for_byte_as_polars_writes_them(source: str) -> None:
    floats = _edge_floats()
    texts = EDGE_TEXTS * (len(floats) // len(EDGE_TEXTS) + 1)
    rows = [_row(text, value) for text, value in zip(texts, floats, strict=False)]
    rows += [
        _row(None, None),
        _row("", 1.0, datetime(1, 1, 1)),
        _row("x", 2.0, datetime(9999, 12, 31, 23, 59, 59)),
    ]
    _load(source, rows)
    copied, encoded = _both_ways(source)
    assert copied.count(b"\r\n") >= len(rows)  # records end in CRLF
    assert_same_records(copied, encoded)
    assert b"'=SUM(A1:A2)" in copied and b"1e-6," in copied and b"1000000000000000.0," in copied


_doubles = st.floats(allow_nan=True, allow_infinity=True) | st.builds(
    lambda bits: struct.unpack("<d", struct.pack("<Q", bits))[0],
    st.integers(min_value=0, max_value=2**64 - 1),
)
_texts = st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=12)
_moments = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.tuples(st.none() | _texts, st.none() | _doubles, _moments), min_size=1, max_size=40)
)
def test_random_rows_are_written_byte_for_byte_as_polars_writes_them(
    source: str, values: list[tuple[str | None, float | None, datetime]]
) -> None:
    _load(source, [_row(text, value, moment) for text, value, moment in values])
    copied, encoded = _both_ways(source)
    assert_same_records(copied, encoded)


def test_columns_copy_cannot_write_identically_stay_with_polars() -> None:
    stmt = select(*cells.c)
    assert (
        csv_cells_statement(stmt, (ColumnSpec("t", "T"), ColumnSpec("money", "M", K.FLOAT))) is None
    )
    assert (
        csv_cells_statement(stmt, (ColumnSpec("t", "T"), ColumnSpec("small_float", "S", K.FLOAT)))
        is None
    )
    assert csv_cells_statement(stmt, (ColumnSpec("t", "T"), ColumnSpec("i", "I", K.TEXT))) is None
    assert csv_cells_statement(stmt, (ColumnSpec("t", "T"),)) is None  # COPY quotes a lone \.
    assert csv_cells_statement(stmt.distinct(), COLUMNS) is None
    assert csv_cells_statement(stmt, (ColumnSpec("t", "T"), ColumnSpec("nope", "N"))) is None
    assert csv_cells_statement(stmt, COLUMNS) is not None


@given(st.data())
@settings(max_examples=200, deadline=None)
def test_crlf_records_end_lines_outside_quotes_however_the_stream_is_cut(
    data: st.DataObject,
) -> None:
    fields = data.draw(
        st.lists(
            st.lists(
                st.sampled_from(["a", '"b""\nc"', '"\r\n"', '""', "d"]), min_size=1, max_size=4
            ),
            min_size=1,
            max_size=6,
        )
    )
    lf = b"".join(",".join(f).encode() + b"\n" for f in fields)
    crlf = b"".join(",".join(f).encode() + b"\r\n" for f in fields)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(lf)), max_size=8)))
    out = io.BytesIO()
    writer = CrlfRecords(out)
    for start, end in zip([0, *cuts], [*cuts, len(lf)], strict=True):
        writer.write(lf[start:end])
    assert out.getvalue() == crlf


def test_a_bad_query_is_permanent_and_a_lost_server_transient(source: str) -> None:
    missing = Table("no_such_table", MetaData(), Column("a", Text), Column("b", Text))
    statement = csv_cells_statement(
        select(*missing.c), (ColumnSpec("a", "A"), ColumnSpec("b", "B"))
    )
    assert statement is not None
    with pytest.raises(QueryError) as permanent:
        copy_csv_records(statement, source, io.BytesIO())
    assert not isinstance(permanent.value, TransientSourceError)
    nowhere = "postgresql+psycopg://postgres:postgres@127.0.0.1:9/none"
    with pytest.raises(TransientSourceError):
        copy_csv_records(statement, nowhere, io.BytesIO())


PARAMS: dict[str, dict[str, Any]] = {
    "verifyhuman": {"env": "live", "from": "2025-09-01", "to": "2026-01-31"},
    "hienergy": {},
    "webhooks": {"start_time": "2025-09-01T00:00:00Z", "end_time": "2026-01-31T23:59:59Z"},
}
CSV_ROW_REPORTS = [
    (surface, report.name)
    for surface, catalog in CATALOGS.items()
    for report in catalog.values()
    if "csv" in report.formats and report.tabular_output == "rows"
]


@pytest.fixture(scope="module")
def demo_source() -> Iterator[str]:
    """The demo data of every surface in a scratch database."""
    with scratch_database(server_url(), prefix="rex_pgcsv_demo") as url:
        generate(url, 3000, seed=5)
        yield url


@pytest.mark.parametrize(("surface", "name"), CSV_ROW_REPORTS)
def test_every_csv_row_report_of_the_catalog_copies_as_polars_writes_it(
    demo_source: str, surface: str, name: str
) -> None:
    report = CATALOGS[surface][name]
    request = validate_request(surface, name, "csv", PARAMS[surface])
    if global_order(report, request.params):
        pytest.skip("re-sorted exports keep Parquet parts")
    stmt = base_query(report, request.params, 1)
    order = [report.chunk_column, *([report.tie_breaker] if report.tie_breaker is not None else [])]
    stmt = stmt.order_by(*order)
    statement = csv_cells_statement(stmt, report.row_columns)
    assert statement is not None, f"{surface}/{name} would not be written by COPY"
    copied = io.BytesIO()
    rows = copy_csv_records(statement, demo_source, copied)
    batches = read_batches(stmt, demo_source, report.schema, reader="adbc")
    encoded = _written(lambda path: write_csv_batches(batches, report.row_columns, path))
    assert rows > 0 and copied.getvalue() == encoded


def test_the_source_urls_own_session_options_are_kept(source: str) -> None:
    """A search_path given in the source URL still finds the table."""
    with psycopg.connect(libpq(source), autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS elsewhere")
        conn.execute("CREATE TABLE IF NOT EXISTS elsewhere.pairs (a text, b text)")
        conn.execute("TRUNCATE elsewhere.pairs")
        conn.execute("INSERT INTO elsewhere.pairs VALUES ('=x', 'y')")
    pairs = Table("pairs", MetaData(), Column("a", Text), Column("b", Text))
    columns = (ColumnSpec("a", "A"), ColumnSpec("b", "B"))
    statement = csv_cells_statement(select(*pairs.c), columns)
    assert statement is not None
    copied = io.BytesIO()
    url = f"{source}?options=-csearch_path%3Delsewhere"
    assert copy_csv_records(statement, url, copied) == 1
    assert copied.getvalue() == b"'=x,y\r\n"


def test_extract_has_postgresql_write_the_parts_and_other_readers_polars(
    source: str, tmp_path: Path
) -> None:
    """Which way a part was written shows in the one value the two spell differently."""
    _load(source, [_row("=a", 1e23)])
    stmt = select(*cells.c).order_by(cells.c.n)
    for reader, spelling in (("auto", b",9.999999999999999e+22,"), ("adbc", b",1e+23,")):
        part = tmp_path / f"{reader}.csv"
        assert write_csv_part(stmt, COLUMNS, SCHEMA, source, reader, part) == 1
        written = part.read_bytes()
        assert written.startswith(b"'=a,") and written.endswith(b"\r\n")
        assert spelling in written, (reader, written)


def test_records_do_not_depend_on_the_servers_session_defaults(source: str) -> None:
    """The COPY session sets what its formatting relies on, whatever the database says."""
    with psycopg.connect(libpq(source), autocommit=True) as conn:
        database = conn.info.dbname
        for setting in (
            "extra_float_digits = 0",  # 15 digits: 0.30000000000000004 would print as 0.3
            "DateStyle = 'SQL, DMY'",  # 05/11/2025 13:14:15
            "TimeZone = 'Pacific/Chatham'",  # timestamptz cast in +13:45
            "jit = on",
            "max_parallel_workers_per_gather = 4",
        ):
            conn.execute(f'ALTER DATABASE "{database}" SET {setting}')
    try:
        rows = [_row(t, v) for t, v in zip(EDGE_TEXTS, _edge_floats()[:200], strict=False)]
        _load(source, rows)
        copied, encoded = _both_ways(source)
        assert b"0.30000000000000004," in copied and b",2025-11-05T13:14:15Z," in copied
        assert_same_records(copied, encoded)
        # Export reads run without JIT or parallel plans, by COPY and by ADBC alike.
        shown = [cast(func.current_setting(name), Text) for name in POSTGRES_READ_SETTINGS]
        statement = csv_cells_statement(
            select(*(s.label(f"s{i}") for i, s in enumerate(shown))),
            (ColumnSpec("s0", "jit"), ColumnSpec("s1", "workers")),
        )
        assert statement is not None
        by_copy = io.BytesIO()
        copy_csv_records(statement, source, by_copy)
        expected = ",".join(POSTGRES_READ_SETTINGS.values())
        assert by_copy.getvalue() == f"{expected}\r\n".encode()
        by_adbc = read_frame(statement, source, {}, reader="adbc")
        assert ",".join(by_adbc.row(0)) == expected
    finally:
        with psycopg.connect(libpq(source), autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{database}" RESET ALL')
