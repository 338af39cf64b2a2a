"""render xlsx rows: a batch of typed rows as SpreadsheetML ``<row>`` elements, built by polars.

The cells are those xlsxwriter writes for the same values: numbers as ``<v>`` with the
column's number format (``s``), booleans ``t="b"``, dates and timestamps as Excel serials,
text as an index into the shared strings (``t="s"``) or, for the few values left out of the
table, inline. A null (and a NaN or ±inf) leaves its cell out; every cell keeps its ``r``
reference, which some readers need (EPPlus, ClosedXML, streaming readers).

Each batch gets its own expression: a column with no nulls and no out-of-range values in the
batch (the usual case) adds its pieces straight to one flat ``concat_str`` per row; only the
others build per-cell strings that can be null.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl
import pyarrow as pa
from xlsxwriter.utility import xl_col_to_name

from catalog.documents import ColumnKind, ColumnSpec
from tasks.cell_safety import neutralise_expr
from tasks.render_xlsx_strings import cell_text, safe_text

ROW = "\x00row"  # the row-number column; no source column can carry this name
INLINE = "\x00inline:"  # prefix of a text column's values left out of the shared table
# Excel date serials: 1 is 1900-01-01, 2958465 is 9999-12-31; 25569 is 1970-01-01.
_FIRST_SERIAL, _LAST_SERIAL, _UNIX_EPOCH = 1, 2_958_465, 25_569
_LEAP_BUG_SERIAL = 61  # Excel counts a 1900-02-29, so earlier serials are one day less
_US_PER_DAY = 86_400_000_000
_INLINE_OPEN = '" t="inlineStr"><is><t xml:space="preserve">'

Piece = str | pl.Expr
Buffer = bytes | memoryview  # what zlib reads without a copy


@dataclass(frozen=True)
class RowLayout:
    """What every batch of one export shares: columns, their letters and number styles."""

    columns: tuple[ColumnSpec, ...]
    styles: dict[ColumnKind, int]

    @property
    def letters(self) -> list[str]:
        """Column letters, A, B, …"""
        return [xl_col_to_name(i) for i in range(len(self.columns))]


def rows_xml(part: pl.DataFrame, first_row: int, layout: RowLayout) -> list[Buffer]:
    """The ``<row>`` elements of ``part``, numbered from ``first_row``, as buffers in order.

    ``part`` holds each non-text column typed as tasks/cell_safety.py types it, each text
    column as shared-string indices, and ``INLINE + name`` columns with the raw text of
    values left inline (neutralised here), where a batch has any.
    """
    numbers = pl.int_range(first_row, first_row + part.height, eager=True)
    inline = [name for name in part.columns if name.startswith(INLINE)]
    part = part.with_columns(
        numbers.cast(pl.String).alias(ROW), *(safe_text(part[n]).alias(n) for n in inline)
    )
    pieces: list[Piece] = ['<row r="', pl.col(ROW), '">']
    for letter, spec in zip(layout.letters, layout.columns, strict=True):
        pieces += _cell(part, letter, spec, layout.styles.get(spec.kind))
    pieces.append("</row>")
    rows = part.select(pl.concat_str(_merged(pieces), ignore_nulls=True)).to_series()
    return joined_buffers(rows)


def joined_buffers(rows: pl.Series) -> list[Buffer]:
    """The bytes of ``rows`` one after another, as polars holds them when it can.

    A String column keeps each value longer than 12 bytes in data buffers, appended in
    order; when its views show exactly that (each value right after the one before, each
    buffer filled by them), those buffers are the joined text and are used as they are.
    Joining a copy instead cost a third of the building time (benchmarks/NOTES.md).
    Otherwise (short values, a layout polars may choose some day) the rows are joined.
    """
    arrow = rows.to_arrow(compat_level=pl.CompatLevel.newest())
    chunks = arrow.chunks if isinstance(arrow, pa.ChunkedArray) else [arrow]
    buffers: list[Buffer] = []
    for chunk in chunks:
        if not len(chunk):
            continue
        data = _contiguous_data(chunk)
        if data is None:
            return [bytes(rows.str.join("").cast(pl.Binary).item())]
        buffers += data
    return buffers


def _contiguous_data(chunk: pa.Array) -> list[Buffer] | None:
    """The data buffers of a string_view chunk if its values fill them back to back."""
    if chunk.type != pa.string_view() or chunk.null_count:
        return None
    views, *data = chunk.buffers()[1:]
    # A view is four little-endian u32: length, prefix, buffer index, offset.
    words = pa.Array.from_buffers(pa.uint32(), 4 * len(chunk), [None, views], 0, 4 * chunk.offset)
    series = pl.Series("w", words)
    view = series.to_frame().select(
        length=pl.col("w").gather_every(4, 0).cast(pl.Int64),
        buffer=pl.col("w").gather_every(4, 2).cast(pl.Int64),
        offset=pl.col("w").gather_every(4, 3).cast(pl.Int64),
    )
    length, buffer, offset = pl.col("length"), pl.col("buffer"), pl.col("offset")
    previous_end = (offset + length).shift(1)
    follows = (
        pl.when(buffer == buffer.shift(1))
        .then(offset == previous_end)
        .otherwise((buffer == buffer.shift(1) + 1) & (offset == 0))
    )
    checks = view.select(
        inline=(length <= 12).any(),  # such values live in the view, not in a buffer
        follows=follows.slice(1).all() & (buffer.first() == 0) & (offset.first() == 0),
        last=buffer.last(),
        total=length.sum(),
    ).row(0, named=True)
    fills = checks["last"] + 1 == len(data) and checks["total"] == sum(b.size for b in data)
    if not (checks["follows"] and fills) or checks["inline"]:
        return None
    return [memoryview(b) for b in data]


def _cell(part: pl.DataFrame, letter: str, spec: ColumnSpec, style: int | None) -> list[Piece]:
    """The pieces of one column's cell: flat when never null in ``part``, else one expr."""
    series, col = part[spec.name], pl.col(spec.name)
    s = "" if style is None else f' s="{style}"'
    if spec.kind is ColumnKind.TEXT:
        cell = _pieces(letter, '" t="s"><v>', col.cast(pl.String), "</v></c>")
        inline = INLINE + spec.name
        if inline in part.columns:
            fallback = _pieces(letter, _INLINE_OPEN, cell_text(pl.col(inline)), "</t></is></c>")
            return [pl.coalesce(_nullable(cell), _nullable(fallback))]
    elif spec.kind is ColumnKind.BOOLEAN:
        cell = _pieces(letter, '" t="b"><v>', col.cast(pl.UInt8).cast(pl.String), "</v></c>")
    elif spec.kind in (ColumnKind.DATE, ColumnKind.DATETIME):
        if not _serials_in_plain_range(series, spec.kind):
            return [_date_cell_with_fallback(letter, spec, s)]
        cell = _pieces(letter, f'"{s}><v>', _serial(col, spec.kind).cast(pl.String), "</v></c>")
    else:
        value = col
        if series.dtype.is_float() and not series.is_finite().fill_null(True).all():
            value = pl.when(col.is_finite()).then(col)  # NaN and ±inf: no cell value
            return [_nullable(_pieces(letter, f'"{s}><v>', value.cast(pl.String), "</v></c>"))]
        cell = _pieces(letter, f'"{s}><v>', value.cast(pl.String), "</v></c>")
    return cell if series.null_count() == 0 else [_nullable(cell)]


def _pieces(letter: str, opening: str, value: pl.Expr, closing: str) -> list[Piece]:
    """``<c r="B7`` + ``opening`` + value + ``closing``."""
    return [f'<c r="{letter}', pl.col(ROW), opening, value, closing]


def _nullable(pieces: list[Piece]) -> pl.Expr:
    """One string per row, null when the value is (so the row leaves the cell out)."""
    return pl.concat_str(_merged(pieces))


def _merged(pieces: Sequence[Piece]) -> list[pl.Expr]:
    """Expressions for concat_str, neighbouring literal text joined into one literal."""
    out: list[pl.Expr] = []
    text = ""
    for piece in pieces:
        if isinstance(piece, str):
            text += piece
            continue
        if text:
            out.append(pl.lit(text))
            text = ""
        out.append(piece)
    return [*out, pl.lit(text)] if text else out


def _serial(col: pl.Expr, kind: ColumnKind) -> pl.Expr:
    """Excel's serial day number (fractional for timestamps), without the 1900 leap bug."""
    if kind is ColumnKind.DATE:
        return col.cast(pl.Int32).cast(pl.Int64) + _UNIX_EPOCH
    return col.dt.timestamp("us") / _US_PER_DAY + _UNIX_EPOCH


def _serials_in_plain_range(series: pl.Series, kind: ColumnKind) -> bool:
    """Whether every value lies between 1900-03-01 and 9999-12-31 (no adjustment, no text)."""
    if series.null_count() == series.len():
        return True
    if kind is ColumnKind.DATE:
        days = series.cast(pl.Int32)
        low, high = days.min(), days.max()
        first, last = _LEAP_BUG_SERIAL - _UNIX_EPOCH, _LAST_SERIAL - _UNIX_EPOCH
    else:
        stamps = series.dt.timestamp("us")
        low, high = stamps.min(), stamps.max()
        first = (_LEAP_BUG_SERIAL - _UNIX_EPOCH) * _US_PER_DAY
        last = (_LAST_SERIAL + 1 - _UNIX_EPOCH) * _US_PER_DAY - 1
    return bool(first <= low and high <= last)  # type: ignore[operator]


def _date_cell_with_fallback(letter: str, spec: ColumnSpec, s: str) -> pl.Expr:
    """A date cell for any value: Excel's leap-bug shift, text for dates Excel cannot hold."""
    col = pl.col(spec.name)
    serial = _serial(col, spec.kind)
    if spec.kind is ColumnKind.DATE:
        shown = col.dt.to_string("%Y-%m-%d")
    else:
        shown = col.dt.to_string("%Y-%m-%d %H:%M:%S")
    serial = pl.when(serial < _LEAP_BUG_SERIAL).then(serial - 1).otherwise(serial)
    # Excel has no dates before 1900 or after 9999: such values are shown as text.
    in_range = (serial >= _FIRST_SERIAL) & (serial < _LAST_SERIAL + 1)
    number = _nullable(_pieces(letter, f'"{s}><v>', serial.cast(pl.String), "</v></c>"))
    text = _nullable(
        _pieces(letter, _INLINE_OPEN, cell_text(neutralise_expr(shown)), "</t></is></c>")
    )
    return pl.when(in_range).then(number).otherwise(text)
