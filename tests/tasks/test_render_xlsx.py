"""render_xlsx: workbooks read back with openpyxl and python-calamine, two independent readers."""

from __future__ import annotations

import math
import zipfile
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import openpyxl
import polars as pl
import pytest
import xlsxwriter
from python_calamine import CalamineWorkbook

import tasks.render_xlsx as render_xlsx_module
from catalog.documents import ColumnKind, ColumnSpec
from tasks.cell_safety import FORMULA_TRIGGERS
from tasks.render_xlsx import EXCEL_MAX_ROWS, render_xlsx, sheet_names, split_rows

TEXTS = ["plain", "=SUM(A1:A2)", "+1", "-5", "@cmd", "\ttab", "\rcr", "\nlf", 'a, "b" & <c>', None]
N = len(TEXTS)
PLUS2 = timezone(timedelta(hours=2))
COLUMNS = [
    ColumnSpec("id", "ID", ColumnKind.INTEGER),
    ColumnSpec("text", "=Text"),
    ColumnSpec("amount", "Amount", ColumnKind.FLOAT),
    ColumnSpec("share", "Share", ColumnKind.PERCENT),
    ColumnSpec("ok", "OK?", ColumnKind.BOOLEAN),
    ColumnSpec("day", "Day", ColumnKind.DATE),
    ColumnSpec("at", "At", ColumnKind.DATETIME),
]


def _frame() -> pl.LazyFrame:
    return pl.LazyFrame(
        {
            "id": [i - 3 for i in range(N)],  # negative numbers included
            "text": TEXTS,
            "amount": [None if i == 2 else -1.25 * i for i in range(N)],
            "share": [i / N for i in range(N)],
            "ok": [None if i == 4 else i % 2 == 0 for i in range(N)],
            "day": [date(2024, 2, 27) + timedelta(days=i) for i in range(N)],
            "at": [datetime(2025, 6, 1, 12, 0, i, tzinfo=PLUS2) for i in range(N)],
        }
    )


def _expected_text(value: str | None) -> str | None:
    """The neutralisation rule, written out independently of the code under test."""
    if value is None:
        return None
    return "'" + value if value[:1] in {"=", "+", "-", "@", "\t", "\r", "\n"} else value


def _calamine_rows(path: Path, sheet: str | int = 0) -> list[list[Any]]:
    book = CalamineWorkbook.from_path(str(path))
    data = (
        book.get_sheet_by_index(sheet) if isinstance(sheet, int) else book.get_sheet_by_name(sheet)
    )
    return data.to_python(skip_empty_area=False)


@pytest.fixture
def workbook_path(tmp_path: Path) -> Path:
    path = tmp_path / "out.xlsx"
    assert render_xlsx(_frame(), COLUMNS, path) == N
    return path


def test_openpyxl_reads_typed_cells(workbook_path: Path) -> None:
    ws = openpyxl.load_workbook(workbook_path).active
    assert ws is not None
    assert [c.value for c in ws[1]] == ["ID", "'=Text", "Amount", "Share", "OK?", "Day", "At"]
    assert ws.max_row == N + 1
    for i in range(N):
        id_, text, amount, share, ok, day, at = ws[i + 2]
        assert id_.value == i - 3 and id_.data_type == "n"
        assert text.value == (
            None if TEXTS[i] is None else _expected_text(TEXTS[i]).replace("\r", "_x000D_")
        )
        assert amount.value == (None if i == 2 else -1.25 * i)
        assert share.value == pytest.approx(i / N) and share.number_format == "0.0%"
        assert ok.value == (None if i == 4 else i % 2 == 0)
        assert ok.data_type == ("n" if i == 4 else "b")
        assert day.value == datetime(2024, 2, 27) + timedelta(days=i)
        assert day.number_format == "yyyy-mm-dd"
        assert at.value == datetime(2025, 6, 1, 10, 0, i)  # written in UTC
        assert at.number_format == "yyyy-mm-dd hh:mm:ss"


def test_no_formulas_and_no_hyperlinks(workbook_path: Path) -> None:
    ws = openpyxl.load_workbook(workbook_path).active
    assert ws is not None
    assert all(cell.data_type != "f" for row in ws.iter_rows() for cell in row)
    assert ws._hyperlinks == []
    with zipfile.ZipFile(workbook_path) as archive:
        sheet = archive.read("xl/worksheets/sheet1.xml")
        assert b"<f>" not in sheet and b"<f " not in sheet and b"hyperlink" not in sheet
        assert not [n for n in archive.namelist() if n.startswith("xl/worksheets/_rels/")]


def test_header_is_bold_frozen_filtered_and_columns_have_widths(workbook_path: Path) -> None:
    ws = openpyxl.load_workbook(workbook_path).active
    assert ws is not None
    assert all(cell.font.b for cell in ws[1])
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == f"A1:G{N + 1}"
    for letter in "ABCDEFG":
        assert 8 <= ws.column_dimensions[letter].width <= 61
    assert ws.column_dimensions["G"].width >= 19  # room for "yyyy-mm-dd hh:mm:ss"


def test_calamine_reads_the_same_values(workbook_path: Path) -> None:
    rows = _calamine_rows(workbook_path)
    assert rows[0] == ["ID", "'=Text", "Amount", "Share", "OK?", "Day", "At"]
    for i, (id_, text, amount, share, ok, day, at) in enumerate(rows[1:]):
        assert id_ == i - 3
        assert text == (_expected_text(TEXTS[i]) or "")  # calamine decodes _x000D_ too
        assert amount == ("" if i == 2 else -1.25 * i)
        assert share == pytest.approx(i / N)
        assert ok == ("" if i == 4 else i % 2 == 0)
        assert day == date(2024, 2, 27) + timedelta(days=i)
        assert at == datetime(2025, 6, 1, 10, 0, i)


@pytest.mark.parametrize("trigger", FORMULA_TRIGGERS)
def test_header_labels_are_neutralised(tmp_path: Path, trigger: str) -> None:
    path = tmp_path / "out.xlsx"
    columns = [ColumnSpec("n", f"{trigger}SUM(A1)", ColumnKind.INTEGER), ColumnSpec("t", "@x")]
    render_xlsx(pl.LazyFrame({"n": [-1], "t": [f"{trigger}1"]}), columns, path)
    ws = openpyxl.load_workbook(path).active
    assert ws is not None
    assert ws["A1"].data_type == "s" and ws["A1"].value.startswith("'")
    assert ws["B1"].value == "'@x"
    assert ws["A2"].value == -1 and ws["A2"].data_type == "n"
    assert _calamine_rows(path) == [[f"'{trigger}SUM(A1)", "'@x"], [-1, f"'{trigger}1"]]


def test_awkward_values(tmp_path: Path) -> None:
    path = tmp_path / "out.xlsx"
    frame = pl.LazyFrame(
        {
            "t": ["_x0041_", "ctl\x01x", "  spaced  ", "x" * 40_000, "😀" * 20_000, "ümlaut ✓"],
            "f": [math.nan, math.inf, -math.inf, 1e20, 1e-7, -0.0],
            "d": [
                date(1899, 12, 31),
                date(1900, 1, 1),
                date(1900, 2, 28),
                date(1900, 3, 1),
                date(9999, 12, 31),
                date(1, 1, 1),
            ],
        }
    )
    columns = [
        ColumnSpec("t", "T"),
        ColumnSpec("f", "F", ColumnKind.FLOAT),
        ColumnSpec("d", "D", ColumnKind.DATE),
    ]
    render_xlsx(frame, columns, path)
    rows = _calamine_rows(path)[1:]
    texts = [r[0] for r in rows]
    assert texts[:3] == ["_x0041_", "ctl\x01x", "  spaced  "]  # literal text survives escaping
    assert texts[3] == "x" * 32_767  # Excel's cell limit
    assert len(texts[4].encode("utf-16-le")) <= 2 * 32_767 and set(texts[4]) == {"😀"}
    assert texts[5] == "ümlaut ✓"
    assert [r[1] for r in rows] == ["", "", "", 1e20, 1e-7, 0.0]  # NaN and ±inf: empty cells
    # Excel has no dates before 1900: those are text; 1900's phantom leap day is skipped.
    assert [r[2] for r in rows] == [
        "1899-12-31",
        date(1900, 1, 1),
        date(1900, 2, 28),
        date(1900, 3, 1),
        date(9999, 12, 31),
        "0001-01-01",
    ]


def test_sheets_split_with_repeated_header_and_rows_in_order(tmp_path: Path) -> None:
    path = tmp_path / "out.xlsx"
    frame = pl.LazyFrame({"n": list(range(12)), "t": [f"r{i}" for i in range(12)]})
    columns = [ColumnSpec("n", "N", ColumnKind.INTEGER), ColumnSpec("t", "T")]
    assert render_xlsx(frame, columns, path, max_rows_per_sheet=5, batch_rows=3) == 12
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["Export", "Export (2)", "Export (3)"]
    values = []
    for ws in book.worksheets:
        rows = list(ws.iter_rows(values_only=True))
        assert rows[0] == ("N", "T") and len(rows) == 5
        assert ws.freeze_panes == "A2" and ws["A1"].font.b
        values += rows[1:]
    assert values == [(i, f"r{i}") for i in range(12)]
    calamine = CalamineWorkbook.from_path(str(path))
    assert calamine.sheet_names == book.sheetnames


@pytest.mark.parametrize(("rows", "sheets"), [(0, 1), (1, 1), (4, 1), (8, 2), (9, 3)])
def test_sheet_count_and_parts_from_parquet(tmp_path: Path, rows: int, sheets: int) -> None:
    parts = []
    for index, (start, stop) in enumerate([(0, rows // 2), (rows // 2, rows)]):
        part = tmp_path / f"part-{index}.parquet"
        pl.DataFrame({"n": pl.Series(range(start, stop), dtype=pl.Int64)}).write_parquet(part)
        parts.append(part)
    path = tmp_path / "out.xlsx"
    columns = [ColumnSpec("n", "N", ColumnKind.INTEGER)]
    assert render_xlsx(pl.scan_parquet(parts), columns, path, max_rows_per_sheet=5) == rows
    book = CalamineWorkbook.from_path(str(path))
    assert len(book.sheet_names) == sheets
    values = [r for name in book.sheet_names for r in book.get_sheet_by_name(name).to_python()]
    assert values == [
        r
        for k in range(sheets)
        for r in [["N"]] + [[v] for v in range(k * 4, min(rows, k * 4 + 4))]
    ]


def test_sheet_names_are_valid_and_distinct() -> None:
    names = sheet_names("Q1: [draft] a/b\\c*d?e 'quoted' and a very long title", 12)
    assert len(set(names)) == 12
    for name in names:
        assert len(name) <= 31 and not set(name) & set("[]:*?/\\")
        assert not name.startswith("'") and not name.endswith("'")
    assert names[1].endswith(" (2)") and names[11].endswith(" (12)")
    assert sheet_names("::", 1) == ["Export"]
    assert split_rows(0, 4) == [0] and split_rows(8, 4) == [4, 4] and split_rows(9, 4) == [4, 4, 1]


def test_an_awkward_title_still_makes_a_workbook(tmp_path: Path) -> None:
    path = tmp_path / "out.xlsx"
    render_xlsx(
        pl.LazyFrame({"n": [1]}),
        [ColumnSpec("n", "N", ColumnKind.INTEGER)],
        path,
        sheet_title="Revenue: 2025/Q1 [final]*",
    )
    assert openpyxl.load_workbook(path).sheetnames == ["Revenue  2025 Q1  final"]


@pytest.mark.slow
def test_real_row_limit_splits_into_a_second_sheet(tmp_path: Path) -> None:
    path = tmp_path / "big.xlsx"
    total = EXCEL_MAX_ROWS + 10
    frame = (
        pl.LazyFrame()
        .select(n=pl.int_range(0, total, dtype=pl.Int64))
        .with_columns(odd=(pl.col("n") % 2) == 1)
    )
    columns = [
        ColumnSpec("n", "N", ColumnKind.INTEGER),
        ColumnSpec("odd", "Odd", ColumnKind.BOOLEAN),
    ]
    assert render_xlsx(frame, columns, path) == total
    book = CalamineWorkbook.from_path(str(path))
    assert book.sheet_names == ["Export", "Export (2)"]
    count, last = 0, None
    for row in book.get_sheet_by_index(0).iter_rows():
        count, last = count + 1, row
    assert count == EXCEL_MAX_ROWS  # header + 1,048,575 data rows
    assert last == [EXCEL_MAX_ROWS - 2, (EXCEL_MAX_ROWS - 2) % 2 == 1]
    second = book.get_sheet_by_index(1).to_python()
    assert second[0] == ["N", "Odd"]
    assert [r[0] for r in second[1:]] == list(range(EXCEL_MAX_ROWS - 1, total))
    assert second[-1] == [total - 1, (total - 1) % 2 == 1]


def _write_cell_by_cell(frame: pl.LazyFrame, columns: list[ColumnSpec], path: Path) -> None:
    """The reference: xlsxwriter's own typed writer methods, one call per cell."""
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_formulas": False})
    bold = book.add_format({"bold": True})
    formats = {
        ColumnKind.PERCENT: book.add_format({"num_format": "0.0%"}),
        ColumnKind.DATE: book.add_format({"num_format": "yyyy-mm-dd"}),
        ColumnKind.DATETIME: book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}),
    }
    sheet = book.add_worksheet("Export")
    for col, spec in enumerate(columns):
        sheet.write_string(0, col, spec.label, bold)
    data = frame.collect()
    for row, values in enumerate(data.iter_rows(), start=1):
        for col, (spec, value) in enumerate(zip(columns, values, strict=True)):
            if value is None:
                continue
            if spec.kind is ColumnKind.TEXT:
                sheet.write_string(row, col, _expected_text(value))
            elif spec.kind is ColumnKind.BOOLEAN:
                sheet.write_boolean(row, col, value)
            elif spec.kind is ColumnKind.DATETIME:
                utc = value.astimezone(UTC).replace(tzinfo=None)
                sheet.write_datetime(row, col, utc, formats[spec.kind])
            elif spec.kind is ColumnKind.DATE:
                sheet.write_datetime(row, col, value, formats[spec.kind])
            else:
                sheet.write_number(row, col, value, formats.get(spec.kind))
    book.close()


def test_cells_match_xlsxwriters_own_cell_by_cell_output(tmp_path: Path) -> None:
    frame = pl.LazyFrame(
        {
            "id": [-(2**40), -1, 0, 7, None, 2**53],
            "text": ["=1", "a\rb\x02", "_x0041_", " pad ", "<&>", None],
            "amount": [0.1 + 0.2, -1e-7, 1e21, None, 2 / 3, -0.0],
            "share": [0.125, None, 1.0, 0.0, -0.5, 2.0],
            "ok": [True, False, None, True, False, True],
            "day": [
                date(1900, 1, 1),
                date(1900, 3, 1),
                date(2024, 2, 29),
                None,
                date(9999, 12, 31),
                date(1970, 1, 1),
            ],
            "at": [
                datetime(2025, 6, 1, 12, 0, 1, 500_000, tzinfo=PLUS2),
                None,
                datetime(1900, 3, 1, tzinfo=UTC),
                datetime(2000, 1, 1, 23, 59, 59, tzinfo=UTC),
                datetime(1970, 1, 1, tzinfo=UTC),
                datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
            ],
        }
    )
    ours, reference = tmp_path / "ours.xlsx", tmp_path / "reference.xlsx"
    render_xlsx(frame, COLUMNS, ours)
    _write_cell_by_cell(frame, COLUMNS, reference)
    got = openpyxl.load_workbook(ours).active
    want = openpyxl.load_workbook(reference).active
    assert got is not None and want is not None
    assert got.max_row == want.max_row and got.max_column == want.max_column
    for got_row, want_row in zip(got.iter_rows(min_row=2), want.iter_rows(min_row=2), strict=True):
        for g, w in zip(got_row, want_row, strict=True):
            assert (g.data_type, g.number_format) == (w.data_type, w.number_format), g.coordinate
            if isinstance(w.value, float):
                assert g.value == pytest.approx(w.value, rel=1e-15), g.coordinate
            elif isinstance(w.value, datetime):
                assert abs(g.value - w.value) < timedelta(milliseconds=1), g.coordinate
            else:
                assert g.value == w.value, g.coordinate


def test_a_sheet_streamed_with_zip64_reads_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Sheets estimated past 2 GiB get ZIP64 headers; too big to write here, so force them.
    monkeypatch.setattr(render_xlsx_module, "_needs_zip64", lambda *_: True)
    path = tmp_path / "out.xlsx"
    assert render_xlsx(_frame(), COLUMNS, path, max_rows_per_sheet=4) == N
    book = CalamineWorkbook.from_path(str(path))
    assert [r[0] for s in book.sheet_names for r in book.get_sheet_by_name(s).to_python()[1:]] == [
        i - 3 for i in range(N)
    ]
    assert openpyxl.load_workbook(path).worksheets[0]["A2"].value == -3
