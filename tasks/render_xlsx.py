"""render xlsx: the export as an Excel workbook, streamed in batches, split into sheets.

xlsxwriter (constant-memory mode; no string becomes a formula, number or URL) writes the
workbook's frame: styles, sheets with a bold, frozen, filtered header, column widths. The data
rows are built column-wise by polars as the cells xlsxwriter writes for the same values
(tasks/render_xlsx_rows.py, text through a bounded shared-string table in
tasks/render_xlsx_strings.py) and spliced into each sheet's ``<sheetData>`` while the
workbook is copied into its zip file, batches built and deflated on worker threads
(tasks/render_xlsx_workbook.py, tasks/render_xlsx_zip.py). One xlsxwriter call per cell
measured ~5,000 rows/s for 14 columns here; benchmarks/NOTES.md has this path's numbers.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain
from pathlib import Path

import polars as pl
import xlsxwriter

from catalog.documents import ColumnKind, ColumnSpec
from tasks.cell_safety import neutralise_text, safe_frame
from tasks.render_xlsx_rows import RowLayout
from tasks.render_xlsx_workbook import assemble

EXCEL_MAX_ROWS = 1_048_576
# Rows of XML built (and deflated) at once, per worker thread: large enough that polars and
# zlib run long without the GIL, small enough that memory stays bounded (benchmarks/NOTES.md).
BATCH_ROWS = 5_000
WORKBOOK_OPTIONS = dict(
    constant_memory=True, strings_to_formulas=False, strings_to_urls=False, strings_to_numbers=False
)
NUMBER_FORMATS = {
    ColumnKind.PERCENT: "0.0%",
    ColumnKind.DATE: "yyyy-mm-dd",
    ColumnKind.DATETIME: "yyyy-mm-dd hh:mm:ss",
}
MIN_WIDTH, MAX_WIDTH = 8, 60

_SHEET_NAME_UNSAFE = re.compile(r"[\[\]:*?/\\\x00-\x1f]")
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
    safe_frame(frame, columns).collect_schema()  # refuses duplicate or uncastable columns
    # Neutralising per batch, not in the streamed plan, keeps polars from buffering transformed
    # copies of row groups ahead of the writer (peak RSS for 4M rows: 870 MB vs 560 MB).
    if batches is None:
        batches = frame.select(c.name for c in columns).collect_batches(chunk_size=batch_rows)
    names_in_order = [c.name for c in columns]
    rows = (b.select(names_in_order) for b in batches if b.height)
    first = next(rows, None)
    names = sheet_names(sheet_title, len(sheet_rows))
    skeleton, styles = _skeleton(columns, names, sheet_rows, column_widths(columns, first))
    parts = _sheet_parts(rows if first is None else chain([first], rows), sheet_rows)
    assemble(path, skeleton, sheet_rows, RowLayout(tuple(columns), styles), parts)
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
