"""CSV records written by PostgreSQL: ``COPY (query) TO STDOUT (FORMAT csv)`` for CSV parts.

Read through ADBC, every row of a CSV export is decoded from binary COPY into Arrow and
encoded again by polars: about 2 µs a row of client CPU next to the server's own, on the
same cores (benchmarks/NOTES.md). Here the server formats the cells and writes the CSV
records itself, as psql's ``\\copy`` does, and the client only streams the bytes into the
part. The records are byte-identical to what ``render_csv`` writes from the same rows
(tests/tasks/test_postgres_csv.py compares both paths value by value):

- TEXT cells are neutralised in SQL with the triggers of ``tasks/cell_safety.py``;
- floats keep PostgreSQL's shortest round-trip digits (``extra_float_digits = 1``: the
  digits polars prints) laid out as polars lays them out: positional for decimal exponents
  -5..15 with ``.0`` on integral values, else ``1e-6`` / ``1.5e+16``, and ``inf``. One
  exception: PostgreSQL's search leaves out the rounding interval's bounds, so the rare
  double beyond 2**53 whose shortest decimal lies exactly on one is spelled longer
  (1e23 as ``9.999999999999999e+22``), the same number;
- timestamps ``YYYY-MM-DDTHH:MM:SSZ`` in UTC, dates ``YYYY-MM-DD``, booleans ``true``/``false``;
- COPY quotes the fields polars quotes (separator, quote, CR or LF inside, the empty string)
  and ends records with LF, which becomes CRLF here, outside quoted fields only.

A report whose columns cannot be written identically this way (numeric, ``real``, a kind
its SQL type does not give) returns ``None`` from :func:`csv_cells_statement` and is read
through ADBC as before. psycopg2's ``copy_expert`` streams COPY output in C; psycopg 3
hands every row to Python (~0.9 µs a row, as much as the server's whole share).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import IO, Any

from sqlalchemy import (
    REAL,
    Boolean,
    ColumnElement,
    Date,
    DateTime,
    Float,
    Integer,
    Select,
    String,
    Text,
    and_,
    case,
    cast,
    func,
    literal_column,
    not_,
    or_,
)
from sqlalchemy.dialects.postgresql import TIMESTAMP

from catalog.documents import ColumnKind, ColumnSpec
from tasks.cell_safety import ESCAPE_PREFIX, FORMULA_TRIGGERS
from tasks.render_csv import LINE_TERMINATOR
from tasks.source_reader import (
    POSTGRES_READ_SETTINGS,
    classify,
    libpq_url,
    postgres_literal_sql,
)

# Session settings the formatting relies on, whatever the server's defaults are, and those
# of every export read (no parallel plan, no JIT: the cell expressions made chunk queries
# look costly enough for both; a 205k-row chunk took 0.41 s with JIT, 0.33 s without).
_FORMAT_SETTINGS = {"extra_float_digits": "1", "DateStyle": "ISO", "TimeZone": "UTC"}
SESSION_OPTIONS = " ".join(
    f"-c {name}={value}" for name, value in (_FORMAT_SETTINGS | POSTGRES_READ_SETTINGS).items()
)
WRITE_BUFFER_BYTES = 1 << 20

_TRIGGER_CODES = tuple(ord(t) for t in FORMULA_TRIGGERS)
# Every trigger sorts before "A" byte-wise, so one comparison in the C collation rules out
# almost every value before ascii() is asked (5M rows × 8 text columns: +2.2 s → +0.5 s).
_BELOW_TRIGGERS = "A"
assert all(code < ord(_BELOW_TRIGGERS) for code in _TRIGGER_CODES)


def csv_cells_statement(stmt: Select[Any], columns: Sequence[ColumnSpec]) -> Select[Any] | None:
    """``stmt`` selecting each column as its CSV cell text, or None if one cannot be.

    The query keeps its FROM, WHERE and ORDER BY; the cells are labelled ``cell_N`` so that
    an ORDER BY never refers to a formatted value. A lone column is left to polars: COPY
    quotes a lone ``\\.`` (its end-of-data marker), polars does not.
    """
    if len(columns) < 2 or stmt._distinct or stmt._group_by_clauses:
        return None
    cells: list[ColumnElement[Any]] = []
    for index, spec in enumerate(columns):
        if spec.name not in stmt.selected_columns:
            return None
        cell = _cell(spec.kind, stmt.selected_columns[spec.name])
        if cell is None:
            return None
        cells.append(cell.label(f"cell_{index}"))
    return stmt.with_only_columns(*cells, maintain_column_froms=True)


def _cell(kind: ColumnKind, column: ColumnElement[Any]) -> ColumnElement[Any] | None:
    """The SQL giving ``column``'s cell as polars writes it for ``kind``, if there is one."""
    sql_type = column.type
    if kind is ColumnKind.TEXT:
        return neutralised(column) if isinstance(sql_type, String) else None
    if kind in (ColumnKind.INTEGER, ColumnKind.FLOAT, ColumnKind.PERCENT):
        if isinstance(sql_type, Integer):
            return column  # COPY writes integers as polars does
        if isinstance(sql_type, Float) and _is_double(sql_type):
            return float_text(column)
        return None  # numeric: polars writes Decimal with its scale; real: float4 digits
    if kind is ColumnKind.BOOLEAN:
        if not isinstance(sql_type, Boolean):
            return None
        return case((column, literal_column("'true'")), (not_(column), literal_column("'false'")))
    if kind is ColumnKind.DATE:
        if isinstance(sql_type, DateTime):
            return cast(cast(_utc_timestamp(column), Date), Text)
        return cast(column, Text) if isinstance(sql_type, Date) else None
    if kind is ColumnKind.DATETIME and isinstance(sql_type, DateTime):
        return timestamp_text(column)
    return None


def _is_double(sql_type: Float[Any]) -> bool:
    return not isinstance(sql_type, REAL) and (sql_type.precision or 53) > 24


def neutralised(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """Text prefixed with ``'`` when it starts with a formula trigger (null stays null)."""
    value = cast(column, Text)
    risky = and_(
        value.collate("C") < literal_column(f"'{_BELOW_TRIGGERS}'"),
        func.ascii(value).in_([literal_column(str(code)) for code in _TRIGGER_CODES]),
    )
    prefix: ColumnElement[str] = literal_column("'" + ESCAPE_PREFIX.replace("'", "''") + "'")
    return case((risky, prefix.op("||")(value)), else_=value)


def _utc_timestamp(column: ColumnElement[Any]) -> ColumnElement[Any]:
    # Naive timestamps are UTC already; a timestamptz becomes UTC in the session's zone.
    return cast(column, TIMESTAMP(timezone=False))


def timestamp_text(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """``YYYY-MM-DDTHH:MM:SSZ`` (UTC, whole seconds), as ``DATETIME_FORMAT`` gives it."""
    seconds = cast(func.date_trunc(literal_column("'second'"), _utc_timestamp(column)), Text)
    spaced = func.replace(seconds, literal_column("' '"), literal_column("'T'"))
    return spaced.op("||")(literal_column("'Z'"))


def float_text(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """A double as polars writes it, from PostgreSQL's shortest round-trip text.

    Both print the same digits; they lay them out differently only for integral values
    (``1`` vs ``1.0``), decimal exponents -5 and 15 (PostgreSQL goes exponential at
    -5 and 15, polars at -6 and 16), exponents below 10 (``e-06`` vs ``e-6``) and
    infinities. The common case costs two comparisons; the rest is rare and regex-built.
    """
    text = cast(column, Text)
    magnitude = func.abs(column)
    positional = and_(
        magnitude >= literal_column("1e-4::float8"), magnitude < literal_column("1e15::float8")
    )
    return case(
        (and_(positional, column != func.trunc(column)), text),
        (positional, text.op("||")(literal_column("'.0'"))),
        (column == literal_column("0::float8"), text.op("||")(literal_column("'.0'"))),
        else_=_rare_float_text(text),
    )


def _rare_float_text(text: ColumnElement[Any]) -> ColumnElement[Any]:
    """Exponential PostgreSQL text (and NaN, infinities) in polars' layout."""

    def lit(sql: str) -> ColumnElement[Any]:
        return literal_column(sql)

    # PostgreSQL: [-]d[.ddd]e±XX. Exponent -5 → 0.0000ddd; 15 → 16 integer digits; below
    # 10 → one exponent digit.
    digits = func.regexp_replace(text, lit(r"'^-?(\d)\.?(\d*)e.*$'"), lit(r"'\1\2'"))
    sign = case((text.like(lit("'-%'")), lit("'-'")), else_=lit("''"))
    exp15 = sign.op("||")(
        case(
            (func.length(digits) <= 16, func.rpad(digits, 16, lit("'0'")).op("||")(lit("'.0'"))),
            else_=func.left(digits, 16).op("||")(lit("'.'")).op("||")(func.substr(digits, 17)),
        )
    )
    return case(
        (text == lit("'Infinity'"), lit("'inf'")),
        (text == lit("'-Infinity'"), lit("'-inf'")),
        (text.like(lit("'%e-05'")), sign.op("||")(lit("'0.0000'")).op("||")(digits)),
        (text.like(lit("'%e+15'")), exp15),
        (or_(text.like(lit("'%e-0_'")), text.like(lit("'%e+0_'"))), _one_digit_exponent(text)),
        else_=text,
    )


def _one_digit_exponent(text: ColumnElement[Any]) -> ColumnElement[Any]:
    return func.regexp_replace(text, literal_column(r"'e([-+])0(\d)$'"), literal_column(r"'e\1\2'"))


_CRLF = LINE_TERMINATOR.encode()


class CrlfRecords(io.RawIOBase):
    """Writes COPY's CSV to ``out`` with each record ending in CRLF instead of LF.

    An LF ends a record unless it is inside a quoted field, and a field is quoted exactly
    when it holds a quote, so an LF is inside one when an odd number of quotes precede it.
    """

    def __init__(self, out: IO[bytes]) -> None:
        super().__init__()
        self._out = out
        self._quoted = False  # an odd number of quotes so far: inside a quoted field

    def writable(self) -> bool:
        return True

    def write(self, block: Any) -> int:
        data = bytes(block)
        if not self._quoted and b'"' not in data:
            self._out.write(data.replace(b"\n", _CRLF))
            return len(data)
        pieces = data.split(b'"')
        outside = 1 if self._quoted else 0  # pieces alternate outside / inside quotes
        pieces[outside::2] = [p.replace(b"\n", _CRLF) for p in pieces[outside::2]]
        self._quoted ^= (len(pieces) - 1) % 2 == 1
        self._out.write(b'"'.join(pieces))
        return len(data)


def crlf_writer(out: IO[bytes]) -> io.BufferedWriter:
    """A buffered file object that writes COPY's records to ``out`` ending in CRLF."""
    return io.BufferedWriter(CrlfRecords(out), WRITE_BUFFER_BYTES)


def copy_statement(stmt: Select[Any]) -> str:
    """``COPY (stmt) TO STDOUT (FORMAT csv)``, the statement's values inlined."""
    return f"COPY ({postgres_literal_sql(stmt)}) TO STDOUT (FORMAT csv)"


def copy_csv_records(stmt: Select[Any], source_url: str, out: IO[bytes]) -> int:
    """Run ``stmt`` (from :func:`csv_cells_statement`) as COPY, appending records to ``out``.

    Returns the number of records. Errors are classified transient or permanent as the
    other readers' are.
    """
    import psycopg2
    import psycopg2.extensions

    sql = copy_statement(stmt)
    dsn = libpq_url(source_url)
    # The source URL's own options (a search_path, say) stay; ours come after, and win.
    own = psycopg2.extensions.parse_dsn(dsn).get("options", "")
    try:
        connection = psycopg2.connect(dsn, options=f"{own} {SESSION_OPTIONS}".strip())
        try:
            connection.set_client_encoding("UTF8")
            with connection.cursor() as cursor:
                records = crlf_writer(out)
                cursor.copy_expert(sql, records)
                records.flush()
                return int(cursor.rowcount)
        finally:
            connection.close()
    except psycopg2.Error as exc:
        raise classify(exc) from exc
