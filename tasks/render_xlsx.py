"""render xlsx: the export as an Excel workbook, streamed in batches, split into sheets.

xlsxwriter (constant-memory mode; no string becomes a formula, number or URL) writes the
workbook's frame: styles, sheets with a bold, frozen, filtered header, column widths. The data
rows, built column-wise by polars as the same cells xlsxwriter writes in constant-memory mode
(inline strings with its ``_xHHHH_`` escapes, numbers, booleans, date serials), are spliced
into each sheet's ``<sheetData>`` while the workbook is copied into its zip file: one
xlsxwriter call per cell measured ~5,000 rows/s for 14 columns here, this ~15x more.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import chain
from pathlib import Path

import polars as pl
import xlsxwriter
from xlsxwriter.utility import xl_col_to_name

from catalog.documents import ColumnKind, ColumnSpec
from tasks.cell_safety import neutralise_expr, neutralise_text, safe_frame

EXCEL_MAX_ROWS = 1_048_576
# Rows of XML built at once. 1M rows: 10k held 158 MB, 5k 126 MB (6% slower); 2.5k with 2 MB
# Arrow batches, peak 301 → 282 MB at the same speed (benchmarks/NOTES.md).
BATCH_ROWS = 2_500
WORKBOOK_OPTIONS = dict(
    constant_memory=True, strings_to_formulas=False, strings_to_urls=False, strings_to_numbers=False
)
NUMBER_FORMATS = {
    ColumnKind.PERCENT: "0.0%",
    ColumnKind.DATE: "yyyy-mm-dd",
    ColumnKind.DATETIME: "yyyy-mm-dd hh:mm:ss",
}
# Deflate level 1: files ~25% larger than level 6 but written about twice as fast.
ZIP_LEVEL = 1
MIN_WIDTH, MAX_WIDTH = 8, 60
MAX_TEXT_UNITS = 32_767  # Excel's cell limit, counted in UTF-16 code units

_ROW = "\x00row"  # the row-number column; no source column can carry this name
_SHEET_NAME_UNSAFE = re.compile(r"[\[\]:*?/\\\x00-\x1f]")
_DIMENSION = re.compile(rb'<dimension ref="[^"]*"/>')
# Excel date serials: 1 is 1900-01-01, 2958465 is 9999-12-31; 25569 is 1970-01-01.
_FIRST_SERIAL, _LAST_SERIAL, _UNIX_EPOCH = 1, 2_958_465, 25_569
_LEAP_BUG_SERIAL = 61  # Excel counts a 1900-02-29, so earlier serials are one day less
_US_PER_DAY = 86_400_000_000
# xlsxwriter's constant-memory escapes: XML specials, control characters as _xHHHH_.
_CONTROL = [chr(c) for c in (*range(0x00, 0x09), *range(0x0B, 0x20))]
_ESCAPE_FROM = ["&", "<", ">", *_CONTROL, "\ufffe", "\uffff"]
_ESCAPE_TO = ["&amp;", "&lt;", "&gt;", *(f"_x{ord(c):04X}_" for c in _CONTROL)]
_ESCAPE_TO += ["_xFFFE_", "_xFFFF_"]
_FIXED_WIDTHS = {ColumnKind.PERCENT: 7, ColumnKind.BOOLEAN: 5}
_FIXED_WIDTHS |= {ColumnKind.DATE: 10, ColumnKind.DATETIME: 19}


def render_xlsx(
    frame: pl.LazyFrame,
    columns: Sequence[ColumnSpec],
    path: Path,
    *,
    sheet_title: str = "Export",
    max_rows_per_sheet: int = EXCEL_MAX_ROWS,
    batch_rows: int = BATCH_ROWS,
    batches: Iterable[pl.DataFrame] | None = None,
) -> int:
    """Write ``frame`` as a typed XLSX workbook; return the number of data rows.

    ``batches``, when given, are ``frame``'s rows in order (say, read file by file with
    bounded memory); otherwise polars streams them from ``frame``.
    """
    if not columns:
        raise ValueError("an XLSX export needs at least one column")
    if not 2 <= max_rows_per_sheet <= EXCEL_MAX_ROWS:
        raise ValueError(f"max_rows_per_sheet must be within 2..{EXCEL_MAX_ROWS}")
    total = int(frame.select(pl.len()).collect().item())  # Parquet footers only
    sheet_rows = split_rows(total, max_rows_per_sheet - 1)
    schema = safe_frame(frame, columns).collect_schema()
    # Neutralising per batch, not in the streamed plan, keeps polars from buffering transformed
    # copies of row groups ahead of the writer (peak RSS for 4M rows: 870 MB vs 560 MB).
    if batches is None:
        batches = frame.select(c.name for c in columns).collect_batches(chunk_size=batch_rows)
    names_in_order = [c.name for c in columns]
    rows = (b.select(names_in_order) for b in batches if b.height)
    first = next(rows, None)
    names = sheet_names(sheet_title, len(sheet_rows))
    skeleton, styles = _skeleton(columns, names, sheet_rows, column_widths(columns, first))
    row_expr = _row_expr(columns, schema, styles)
    parts = _sheet_parts(rows if first is None else chain([first], rows), sheet_rows)
    _assemble(path, skeleton, sheet_rows, len(columns), _xml_chunks(parts, row_expr, columns))
    return total


def split_rows(total: int, per_sheet: int) -> list[int]:
    """Data rows of each sheet: full sheets, then the rest; one empty sheet for no rows."""
    full, rest = divmod(total, per_sheet)
    return [per_sheet] * full + ([rest] if rest or not full else [])


def sheet_names(title: str, count: int) -> list[str]:
    """Valid, distinct sheet names: ``title``, ``title (2)``, … (≤ 31 chars, no []:*?/\\)."""
    # Excel also refuses a name that starts or ends with an apostrophe.
    base = _SHEET_NAME_UNSAFE.sub(" ", title).strip(" '") or "Export"
    if base.casefold() == "history":  # a name Excel reserves
        base = "History export"
    names = []
    for number in range(1, count + 1):
        suffix = "" if number == 1 else f" ({number})"
        names.append(base[: 31 - len(suffix)].rstrip(" '") + suffix)
    return names


def column_widths(columns: Sequence[ColumnSpec], sample: pl.DataFrame | None) -> list[int]:
    """Widths in characters from each label and the sampled values, clamped to 8..60."""
    widths = []
    for spec in columns:
        longest = _FIXED_WIDTHS.get(spec.kind)
        if longest is None and sample is not None:
            values = sample[spec.name].cast(pl.String)  # raw values: text is not quoted yet
            longest = values.str.len_chars().max()  # type: ignore[assignment]
        # +3 leaves room for the autofilter button next to the label.
        wanted = max(len(spec.label) + 3, int(longest or 0) + 1)
        widths.append(min(MAX_WIDTH, max(MIN_WIDTH, wanted)))
    return widths


def _skeleton(
    columns: Sequence[ColumnSpec],
    names: Sequence[str],
    sheet_rows: Sequence[int],
    widths: Sequence[int],
) -> tuple[bytes, dict[ColumnKind, int]]:
    """The workbook with headers only, and the style index of each number format."""
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, WORKBOOK_OPTIONS)
    bold = workbook.add_format({"bold": True})
    formats = {kind: workbook.add_format({"num_format": f}) for kind, f in NUMBER_FORMATS.items()}
    for name, rows in zip(names, sheet_rows, strict=True):
        sheet = workbook.add_worksheet(name)
        for col, (spec, width) in enumerate(zip(columns, widths, strict=True)):
            # In constant-memory mode columns must be set before any row is written; the
            # column format also makes Excel use it for values typed in later.
            sheet.set_column(col, col, width, formats.get(spec.kind))
        for col, spec in enumerate(columns):
            sheet.write_string(0, col, neutralise_text(spec.label), bold)
        sheet.freeze_panes(1, 0)
        sheet.autofilter(0, 0, rows, len(columns) - 1)
    workbook.close()
    # xlsxwriter numbers a format when it is first used (here: by a column), at close.
    styles = {kind: f.xf_index for kind, f in formats.items() if f.xf_index is not None}
    return buffer.getvalue(), styles


def _row_expr(
    columns: Sequence[ColumnSpec], schema: pl.Schema, styles: dict[ColumnKind, int]
) -> pl.Expr:
    """One ``<row>`` element per frame row; a null cell is left out of its row."""
    cells = [
        _cell_expr(xl_col_to_name(col), spec, schema[spec.name], styles.get(spec.kind))
        for col, spec in enumerate(columns)
    ]
    parts = [pl.lit('<row r="'), pl.col(_ROW), pl.lit('">'), *cells, pl.lit("</row>")]
    return pl.concat_str(parts, ignore_nulls=True)


def _cell_expr(letter: str, spec: ColumnSpec, dtype: pl.DataType, style: int | None) -> pl.Expr:
    """The ``<c>`` element of one column (null for a null value)."""
    col = pl.col(spec.name)
    s = "" if style is None else f' s="{style}"'
    if spec.kind is ColumnKind.TEXT:
        return _text_cell(letter, col)
    if spec.kind is ColumnKind.BOOLEAN:
        return _element(letter, '" t="b"><v>', col.cast(pl.UInt8).cast(pl.String), "</v></c>")
    if spec.kind in (ColumnKind.DATE, ColumnKind.DATETIME):
        if spec.kind is ColumnKind.DATE:
            serial = col.cast(pl.Int32).cast(pl.Int64) + _UNIX_EPOCH
            shown = col.dt.to_string("%Y-%m-%d")
        else:
            serial = col.dt.timestamp("us") / _US_PER_DAY + _UNIX_EPOCH
            shown = col.dt.to_string("%Y-%m-%d %H:%M:%S")
        serial = pl.when(serial < _LEAP_BUG_SERIAL).then(serial - 1).otherwise(serial)
        # Excel has no dates before 1900 or after 9999: such values are shown as text.
        in_range = (serial >= _FIRST_SERIAL) & (serial < _LAST_SERIAL + 1)
        return (
            pl.when(in_range)
            .then(_element(letter, f'"{s}><v>', serial.cast(pl.String), "</v></c>"))
            .otherwise(_text_cell(letter, neutralise_expr(shown)))
        )
    if dtype.is_float():
        col = pl.when(col.is_finite()).then(col)  # NaN and ±inf have no cell value: empty
    return _element(letter, f'"{s}><v>', col.cast(pl.String), "</v></c>")


def _text_cell(letter: str, text: pl.Expr) -> pl.Expr:
    # A literal "_x0041_" must stay text, so its underscore is escaped first (as Excel does).
    escaped = text.str.replace_all(r"_x[0-9A-Fa-f]{4}_", "_x005F${0}")
    escaped = escaped.str.replace_many(_ESCAPE_FROM, _ESCAPE_TO)
    opening = '" t="inlineStr"><is><t xml:space="preserve">'
    return _element(letter, opening, escaped, "</t></is></c>")


def _element(letter: str, opening: str, value: pl.Expr, closing: str) -> pl.Expr:
    """``<c r="B7`` + ``opening`` + value + ``closing``; null when the value is null."""
    parts = [pl.lit(f'<c r="{letter}'), pl.col(_ROW), pl.lit(opening), value, pl.lit(closing)]
    return pl.concat_str(parts)


def _sheet_parts(
    batches: Iterable[pl.DataFrame], sheet_rows: Sequence[int]
) -> Iterator[tuple[int, int, pl.DataFrame]]:
    """(sheet index, first sheet row number, rows) slices that never cross a sheet."""
    sheet, used = 0, 0
    for batch in batches:
        while batch.height:
            room = sheet_rows[sheet] - used
            if room == 0:
                sheet, used = sheet + 1, 0
                if sheet == len(sheet_rows):
                    raise ValueError("the frame yielded more rows than it counted")
                continue
            part, batch = batch.head(room), batch.slice(room)
            yield sheet, used + 2, part  # row 1 is the header
            used += part.height
    if sheet != len(sheet_rows) - 1 or used != sheet_rows[sheet]:
        raise ValueError("the frame yielded fewer rows than it counted")


def _xml_chunks(
    parts: Iterable[tuple[int, int, pl.DataFrame]],
    row_expr: pl.Expr,
    columns: Sequence[ColumnSpec],
) -> Iterator[tuple[int, bytes]]:
    """(sheet index, SpreadsheetML rows) in order, built one part ahead of the caller."""
    # polars builds the next part's XML (releasing the GIL) while zlib compresses this one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        ahead: tuple[int, Future[bytes]] | None = None
        for sheet, first_row, part in parts:
            job = (sheet, pool.submit(_rows_xml, part, first_row, row_expr, columns))
            if ahead is not None:
                yield ahead[0], ahead[1].result()
            ahead = job
        if ahead is not None:
            yield ahead[0], ahead[1].result()


def _rows_xml(
    part: pl.DataFrame, first_row: int, row_expr: pl.Expr, columns: Sequence[ColumnSpec]
) -> bytes:
    """The ``<row>`` elements of ``part`` (raw values), numbered from ``first_row``."""
    part = safe_frame(part.lazy(), columns).collect()
    part = _fit_long_text(part, [c.name for c in columns if c.kind is ColumnKind.TEXT])
    numbered = part.with_row_index(_ROW, offset=first_row)
    numbered = numbered.with_columns(pl.col(_ROW).cast(pl.String))
    # As Binary the joined rows reach Python as bytes directly, not via a str to encode.
    return bytes(numbered.select(row_expr.str.join("").cast(pl.Binary)).item())


def _fit_long_text(part: pl.DataFrame, texts: list[str]) -> pl.DataFrame:
    """Text cut to Excel's cell limit; rare, so done in Python only for columns that need it."""
    long = [n for n in texts if (part[n].str.len_chars().max() or 0) > MAX_TEXT_UNITS // 2]  # type: ignore[operator]
    if not long:
        return part
    return part.with_columns(
        pl.col(n).map_elements(_truncate_utf16, return_dtype=pl.String) for n in long
    )


def _truncate_utf16(text: str) -> str:
    encoded = text.encode("utf-16-le")
    if len(encoded) <= 2 * MAX_TEXT_UNITS:
        return text
    # "ignore" drops half of a surrogate pair cut at the end.
    return encoded[: 2 * MAX_TEXT_UNITS].decode("utf-16-le", errors="ignore")


def _assemble(
    path: Path,
    skeleton: bytes,
    sheet_rows: Sequence[int],
    width: int,
    chunks: Iterator[tuple[int, bytes]],
) -> None:
    """Copy the skeleton into ``path``, streaming each sheet's rows into its ``<sheetData>``."""
    sheets = {f"xl/worksheets/sheet{i + 1}.xml": i for i in range(len(sheet_rows))}
    chunk = next(chunks, None)
    with (
        zipfile.ZipFile(io.BytesIO(skeleton)) as source,
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=ZIP_LEVEL) as target,
    ):
        if not sheets.keys() <= set(source.namelist()):
            raise RuntimeError("xlsxwriter laid the workbook out differently than expected")
        for name in source.namelist():
            if name not in sheets:
                target.writestr(name, source.read(name))
                continue
            index = sheets[name]
            head, tail = _split_sheet(source.read(name), sheet_rows[index], width)
            with target.open(name, "w", force_zip64=_needs_zip64(chunk, index, sheet_rows)) as out:
                out.write(head)
                while chunk is not None and chunk[0] == index:
                    out.write(chunk[1])
                    chunk = next(chunks, None)
                out.write(tail)


def _split_sheet(xml: bytes, data_rows: int, width: int) -> tuple[bytes, bytes]:
    """The sheet XML before and after the point where data rows go, with its real size."""
    head, marker, tail = xml.partition(b"</sheetData>")
    if not marker:
        raise RuntimeError("xlsxwriter wrote a sheet without <sheetData>")
    ref = f'<dimension ref="A1:{xl_col_to_name(width - 1)}{data_rows + 1}"/>'.encode()
    return _DIMENSION.sub(ref, head, count=1), marker + tail


def _needs_zip64(chunk: tuple[int, bytes] | None, index: int, sheet_rows: Sequence[int]) -> bool:
    """Whether a sheet may pass 2 GiB uncompressed, judged from its first chunk (doubled)."""
    if chunk is None or chunk[0] != index:
        return False
    row_bytes = len(chunk[1]) / max(chunk[1].count(b"</row>"), 1)
    return row_bytes * sheet_rows[index] * 2 >= zipfile.ZIP64_LIMIT
