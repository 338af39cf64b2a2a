"""render_xlsx: workbooks read back with openpyxl and python-calamine, two independent readers."""

from __future__ import annotations

import math
import shutil
import subprocess
import warnings
import zipfile
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import openpyxl
import polars as pl
import pytest
import xlsxwriter
from python_calamine import CalamineWorkbook

import tasks.render_xlsx_workbook as render_xlsx_workbook
from catalog.documents import ColumnKind, ColumnSpec
from tasks.cell_safety import FORMULA_TRIGGERS
from tasks.render_xlsx import EXCEL_MAX_ROWS, render_xlsx, sheet_names, split_rows
from tasks.render_xlsx_strings import MAX_STRINGS

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


def _utf16_cut(text: str, units: int = 32_767) -> str:
    """``text`` cut to Excel's cell limit in UTF-16 code units, never inside a pair."""
    out, used = [], 0
    for char in text:
        used += 2 if ord(char) > 0xFFFF else 1
        if used > units:
            break
        out.append(char)
    return "".join(out)


def _date_text(value: date) -> str:
    """How a date or timestamp Excel cannot hold is shown: ISO text, four-digit years."""
    shown = f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
    if isinstance(value, datetime):
        shown += f" {value.hour:02d}:{value.minute:02d}:{value.second:02d}"
    return shown


def _write_cell_by_cell(frame: pl.LazyFrame, columns: list[ColumnSpec], path: Path) -> None:
    """The reference: xlsxwriter's own typed writer methods, one call per cell.

    Shared strings, as xlsxwriter writes by default: openpyxl reads ``_xHHHH_`` escapes of
    shared and inline strings differently, so both files use the same kind.
    """
    options = {"strings_to_formulas": False, "strings_to_numbers": False, "strings_to_urls": False}
    book = xlsxwriter.Workbook(str(path), options)
    bold = book.add_format({"bold": True})
    formats = {
        ColumnKind.PERCENT: book.add_format({"num_format": "0.0%"}),
        ColumnKind.DATE: book.add_format({"num_format": "yyyy-mm-dd"}),
        ColumnKind.DATETIME: book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}),
    }
    sheet = book.add_worksheet("Export")
    for col, spec in enumerate(columns):
        sheet.write_string(0, col, _expected_text(spec.label), bold)
    data = frame.collect()
    for row, values in enumerate(data.iter_rows(), start=1):
        for col, (spec, value) in enumerate(zip(columns, values, strict=True)):
            if value is None:
                continue
            if spec.kind is ColumnKind.TEXT:
                sheet.write_string(row, col, _utf16_cut(_expected_text(value)))
            elif spec.kind is ColumnKind.BOOLEAN:
                sheet.write_boolean(row, col, value)
            elif spec.kind in (ColumnKind.DATE, ColumnKind.DATETIME):
                if spec.kind is ColumnKind.DATETIME:
                    value = value.astimezone(UTC).replace(tzinfo=None)
                day = value if spec.kind is ColumnKind.DATE else value.date()
                if spec.kind is ColumnKind.DATETIME and day == date(1900, 1, 1):
                    # xlsxwriter takes a datetime on 1900-01-01 for a time of day (serial 0.x).
                    moment = (value - datetime(1900, 1, 1)) / timedelta(days=1)
                    sheet.write_number(row, col, 1 + moment, formats[spec.kind])
                elif date(1900, 1, 1) <= day:
                    sheet.write_datetime(row, col, value, formats[spec.kind])
                else:  # Excel has no dates before 1900: text, as the renderer writes them
                    sheet.write_string(row, col, _date_text(value))
            elif not math.isfinite(value):
                continue  # NaN and ±inf: no cell
            else:
                sheet.write_number(row, col, value, formats.get(spec.kind))
    book.close()


def _assert_same_cells(ours: Path, reference: Path) -> None:
    """Every cell of both files has the same type, number format and value (openpyxl)."""
    got = openpyxl.load_workbook(ours).active
    want = openpyxl.load_workbook(reference).active
    assert got is not None and want is not None
    assert got.max_row == want.max_row and got.max_column == want.max_column
    for got_row, want_row in zip(got.iter_rows(), want.iter_rows(), strict=True):
        for g, w in zip(got_row, want_row, strict=True):
            assert (g.data_type, g.number_format) == (w.data_type, w.number_format), g.coordinate
            if isinstance(w.value, float | int) and not isinstance(w.value, bool):
                # xlsxwriter spells numbers with 16 digits, the renderer with all it needs.
                assert float(f"{g.value:.16G}") == w.value, g.coordinate
            elif isinstance(w.value, datetime):
                assert abs(g.value - w.value) < timedelta(milliseconds=1), g.coordinate
            else:
                assert g.value == w.value, g.coordinate


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
    _assert_same_cells(ours, reference)


def test_a_workbook_with_zip64_records_reads_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Past 2 GiB entries, offsets and the directory get ZIP64 records; too big to write here,
    # so the limit comes down to 100 bytes and every one of them needs them.
    monkeypatch.setattr(render_xlsx_workbook, "ZIP64_LIMIT", 100)
    path = tmp_path / "out.xlsx"
    assert render_xlsx(_frame(), COLUMNS, path, max_rows_per_sheet=4) == N
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        assert all(info.header_offset > 100 for info in archive.infolist()[1:])
    book = CalamineWorkbook.from_path(str(path))
    assert [r[0] for s in book.sheet_names for r in book.get_sheet_by_name(s).to_python()[1:]] == [
        i - 3 for i in range(N)
    ]
    assert openpyxl.load_workbook(path).worksheets[0]["A2"].value == -3


# Edge values, one list per column kind; columns are cycled to the longest list's length.
EDGE_TEXT = [
    "",
    None,
    "ümlaut ✓ 中文 😀",
    "x" * 40_000,
    "😀" * 20_000,
    "a😀" * 11_000,  # cut at the limit between the two halves of a pair
    "& < > \" ' &amp;",
    "".join(chr(c) for c in range(1, 32)),
    "\x00nul",
    "_x0041_ and _X00e9_ literally",
    " lead",
    "trail ",
    "=1+1",
    "+",
    "-",
    "@SUM(A1)",
    "\t=tab",
    "\r=cr",
    "\n=lf",
    "line\nbreak",
    "]]>",
]
EDGE_INTS = [0, -1, 2**31, 2**53, 2**53 + 1, 2**63 - 1, -(2**63), None]
EDGE_FLOATS = [
    1.7976931348623157e308,
    5e-324,
    -1e-300,
    1e20,
    1e-7,
    -0.0,
    0.1 + 0.2,
    123456789.12345679,
    1e15,
    1e16,
    math.nan,
    math.inf,
    -math.inf,
    None,
]
EDGE_BOOLS = [True, False, None]
EDGE_DATES = [
    date(1900, 1, 1),
    date(1900, 2, 28),
    date(1900, 3, 1),
    date(1899, 12, 31),
    date(1, 1, 1),
    date(2024, 2, 29),
    date(9999, 12, 31),
    None,
]
EDGE_TIMESTAMPS = [
    datetime(1900, 1, 1, tzinfo=UTC),
    datetime(1900, 2, 28, 23, 59, 59, tzinfo=UTC),
    datetime(1900, 3, 1, 0, 0, 1, tzinfo=UTC),
    datetime(1899, 12, 31, 12, 30, tzinfo=UTC),
    datetime(1970, 1, 1, tzinfo=UTC),
    datetime(2025, 6, 1, 12, 0, 0, 123_456, tzinfo=PLUS2),
    datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
    None,
]
EDGE_COLUMNS = [
    ColumnSpec("text", "Text"),
    ColumnSpec("int", "Int", ColumnKind.INTEGER),
    ColumnSpec("float", "Float", ColumnKind.FLOAT),
    ColumnSpec("share", "Share", ColumnKind.PERCENT),
    ColumnSpec("flag", "Flag", ColumnKind.BOOLEAN),
    ColumnSpec("day", "Day", ColumnKind.DATE),
    ColumnSpec("at", "At", ColumnKind.DATETIME),
    ColumnSpec("empty", "Empty"),  # a column of nulls only
]


def _edge_frame(rows: int = len(EDGE_TEXT)) -> pl.LazyFrame:
    def cycled(values: list[Any]) -> list[Any]:
        return [values[i % len(values)] for i in range(rows)]

    return pl.LazyFrame(
        {
            "text": cycled(EDGE_TEXT),
            "int": pl.Series(cycled(EDGE_INTS), dtype=pl.Int64),
            "float": cycled(EDGE_FLOATS),
            "share": cycled([0.0, 0.125, 1.0, None, -0.5]),
            "flag": cycled(EDGE_BOOLS),
            "day": cycled(EDGE_DATES),
            "at": pl.Series(cycled(EDGE_TIMESTAMPS), dtype=pl.Datetime("us", "UTC")),
            "empty": pl.Series([None] * rows, dtype=pl.String),
        }
    )


def _expected_edge_cell(spec: ColumnSpec, value: Any) -> Any:
    """What calamine must read for ``value`` (its empty cell is "")."""
    if value is None:
        return ""
    if spec.kind is ColumnKind.TEXT:
        return _utf16_cut(_expected_text(value))
    if spec.kind in (ColumnKind.FLOAT, ColumnKind.PERCENT) and not math.isfinite(value):
        return ""
    if spec.kind is ColumnKind.DATETIME:
        value = value.astimezone(UTC).replace(tzinfo=None)
        return value if value.year >= 1900 else _date_text(value)
    if spec.kind is ColumnKind.DATE:
        return value if value.year >= 1900 else _date_text(value)
    return value


def _assert_calamine_reads(path: Path, frame: pl.LazyFrame, columns: list[ColumnSpec]) -> None:
    book = CalamineWorkbook.from_path(str(path))
    rows = [r for name in book.sheet_names for r in book.get_sheet_by_name(name).to_python()[1:]]
    data = frame.collect()
    assert len(rows) == data.height
    for number, (got, values) in enumerate(zip(rows, data.iter_rows(), strict=True)):
        for spec, cell, value in zip(columns, got, values, strict=True):
            want = _expected_edge_cell(spec, value)
            where = f"row {number}, {spec.name}"
            if isinstance(want, datetime):
                if not isinstance(cell, datetime):  # calamine reads midnight as a date
                    assert want.time() == time() and cell == want.date(), where
                    continue
                assert abs(cell - want) < timedelta(milliseconds=1), where
            elif spec.kind is ColumnKind.INTEGER and want != "":
                assert float(cell) == float(want), where  # Excel keeps doubles
            else:
                assert cell == want and type(cell) is type(want), where


def test_edge_values_round_trip_through_both_readers(tmp_path: Path) -> None:
    frame = _edge_frame()
    ours, reference = tmp_path / "ours.xlsx", tmp_path / "reference.xlsx"
    assert render_xlsx(frame, EDGE_COLUMNS, ours) == len(EDGE_TEXT)
    _assert_calamine_reads(ours, frame, EDGE_COLUMNS)
    _write_cell_by_cell(frame, EDGE_COLUMNS, reference)
    _assert_same_cells(ours, reference)
    ws = openpyxl.load_workbook(ours).active
    assert ws is not None
    # The file carries every digit of an integer (openpyxl reads them as written).
    assert [ws.cell(row=r, column=2).value for r in range(2, 2 + len(EDGE_INTS))] == EDGE_INTS


def test_characters_xml_cannot_carry_are_spelled_as_excel_escapes(tmp_path: Path) -> None:
    # U+FFFE and U+FFFF are not XML characters (xlsxwriter's reference cannot write them):
    # they are written as Excel's escapes, which calamine shows spelled out.
    path = tmp_path / "out.xlsx"
    texts = ["\ufffe", "a\uffffb", "_xFFFE_"]
    render_xlsx(pl.LazyFrame({"t": texts}), [ColumnSpec("t", "T")], path)
    assert [r[0] for r in _calamine_rows(path)[1:]] == ["_xFFFE_", "a_xFFFF_b", "_xFFFE_"]
    with zipfile.ZipFile(path) as archive:
        shared = archive.read("xl/sharedStrings.xml").decode()
    assert "\ufffe" not in shared and "\uffff" not in shared
    openpyxl.load_workbook(path)  # the XML parses


def test_files_open_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "out.xlsx"
    render_xlsx(_edge_frame(60), EDGE_COLUMNS, path, max_rows_per_sheet=25, batch_rows=7)
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        assert names[0] == "[Content_Types].xml"  # where file-type sniffers look
        assert "xl/sharedStrings.xml" in names
        assert b"sharedStrings" in archive.read("[Content_Types].xml")
        assert b"sharedStrings.xml" in archive.read("xl/_rels/workbook.xml.rels")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # openpyxl warns about parts it does not understand
        book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["Export", "Export (2)", "Export (3)"]
    assert [ws.max_row for ws in book.worksheets] == [25, 25, 13]
    if shutil.which("unzip"):  # Info-ZIP, a third reader of the container
        subprocess.run(["unzip", "-tq", str(path)], check=True, capture_output=True)


def test_edge_values_split_across_sheets_in_small_batches(tmp_path: Path) -> None:
    # Batches of 7 cross every sheet boundary; the shared-string table grows as they come.
    frame = _edge_frame(100)
    path = tmp_path / "out.xlsx"
    assert render_xlsx(frame, EDGE_COLUMNS, path, max_rows_per_sheet=16, batch_rows=7) == 100
    book = CalamineWorkbook.from_path(str(path))
    assert len(book.sheet_names) == 7  # 15 data rows a sheet
    for name in book.sheet_names:
        assert book.get_sheet_by_name(name).to_python()[0][:2] == ["Text", "Int"]
    _assert_calamine_reads(path, frame, EDGE_COLUMNS)


def test_text_past_the_shared_table_is_written_inline_and_reads_the_same(
    tmp_path: Path,
) -> None:
    # The table takes 65,536 distinct strings; later new values stay in their cells, while
    # values the table knows keep pointing at it, in the same batches.
    rows = MAX_STRINGS + 4_000
    frame = pl.LazyFrame(
        {
            "distinct": [f"=id <{i}>" for i in range(rows)],
            "repeated": [f"status {i % 3}" for i in range(rows)],
        }
    )
    columns = [ColumnSpec("distinct", "Distinct"), ColumnSpec("repeated", "Repeated")]
    path = tmp_path / "out.xlsx"
    render_xlsx(frame, columns, path, batch_rows=10_000)
    with zipfile.ZipFile(path) as archive:
        sheet = archive.read("xl/worksheets/sheet1.xml")
        shared = archive.read("xl/sharedStrings.xml")
    # Inline: the two header cells, and the distinct values the table had no room for.
    assert sheet.count(b't="inlineStr"') == 2 + rows - (MAX_STRINGS - 3)
    assert shared.count(b"<si>") == MAX_STRINGS
    data = frame.collect()
    assert _calamine_rows(path)[1:] == [
        [_expected_text(d), r] for d, r in zip(data["distinct"], data["repeated"], strict=True)
    ]
    inline = openpyxl.load_workbook(path, read_only=True).active
    assert inline is not None
    last = next(inline.iter_rows(min_row=rows + 1, values_only=True))
    assert last == (f"'=id <{rows - 1}>", f"status {(rows - 1) % 3}")


def test_an_empty_export_has_its_header_and_an_empty_string_table(tmp_path: Path) -> None:
    path = tmp_path / "out.xlsx"
    assert render_xlsx(_edge_frame(0), EDGE_COLUMNS, path) == 0
    assert _calamine_rows(path) == [[c.label for c in EDGE_COLUMNS]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ws = openpyxl.load_workbook(path).active
    assert ws is not None and ws.max_row == 1
