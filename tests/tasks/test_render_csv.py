"""render_csv: files read back with the stdlib csv module, compared with expected text."""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import os
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest

from catalog.documents import ColumnKind, ColumnSpec
from tasks.cell_safety import FORMULA_TRIGGERS
from tasks.render_csv import concat_csv, header_record, render_csv, write_csv_records

TEXTS = [
    "plain",
    "comma, inside",
    'say "hi"',
    "line\nbreak",
    "crlf\r\nbreak",
    "ümlaut ✓ 日本 😀",
    "=SUM(A1:A2)",
    "+1",
    "-5",
    "@cmd",
    "\tindented",
    "\rcarriage",
    "\nnewline",
    "",
    None,
]
N = len(TEXTS)
COLUMNS = [
    ColumnSpec("id", "ID", ColumnKind.INTEGER),
    ColumnSpec("text", "Text"),
    ColumnSpec("delta", "Delta", ColumnKind.INTEGER),
    ColumnSpec("amount", "Amount", ColumnKind.FLOAT),
    ColumnSpec("share", "Share", ColumnKind.PERCENT),
    ColumnSpec("ok", "OK?", ColumnKind.BOOLEAN),
    ColumnSpec("day", "Day", ColumnKind.DATE),
    ColumnSpec("at", "At", ColumnKind.DATETIME),
]


def _frame() -> pl.LazyFrame:
    plus2 = timezone(timedelta(hours=2))
    return pl.LazyFrame(
        {
            "at": [
                datetime(2025, 12, 31, 23, 59, 59, tzinfo=plus2) + timedelta(hours=i)
                for i in range(N)
            ],
            "id": list(range(N)),
            "text": TEXTS,
            "delta": [-i for i in range(N)],
            "amount": [-1.5 * i if i % 4 else None for i in range(N)],
            "share": [i / N for i in range(N)],
            "ok": [None if i == 3 else i % 2 == 0 for i in range(N)],
            "day": [date(2024, 2, 28) + timedelta(days=i) for i in range(N)],
            "unused": ["=not exported"] * N,
        }
    )


def _expected_text(value: str | None) -> str:
    """The neutralisation rule, written out independently of the code under test."""
    if value is None:
        return ""
    return "'" + value if value[:1] in {"=", "+", "-", "@", "\t", "\r", "\n"} else value


def read_back(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def test_round_trip_with_the_csv_module(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    assert render_csv(_frame(), COLUMNS, path) == N
    header, rows = read_back(path)
    assert header == ["ID", "Text", "Delta", "Amount", "Share", "OK?", "Day", "At"]
    assert len(rows) == N
    for i, row in enumerate(rows):
        utc = datetime(2025, 12, 31, 21, 59, 59) + timedelta(hours=i)
        assert row[0] == str(i)
        assert row[1] == _expected_text(TEXTS[i])
        assert row[2] == str(-i) and (i == 0 or row[2].startswith("-"))  # a number, not text
        assert (float(row[3]) == -1.5 * i) if i % 4 else row[3] == ""
        assert float(row[4]) == pytest.approx(i / N)
        assert row[5] == ("" if i == 3 else ("true" if i % 2 == 0 else "false"))
        assert row[6] == (date(2024, 2, 28) + timedelta(days=i)).isoformat()
        assert row[7] == utc.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_file_is_utf8_with_crlf_records_and_no_bom(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    render_csv(_frame(), COLUMNS, path)
    raw = path.read_bytes()
    raw.decode("utf-8")  # strict: raises on anything but UTF-8
    assert raw.startswith(b"ID,Text,Delta,")
    assert raw.count(b"\r\n") >= N + 1
    assert "ümlaut ✓ 日本 😀".encode() in raw


def test_quoting_is_rfc_4180(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    frame = pl.LazyFrame({"t": ["a,b", 'q"q', "l\nf", "plain"]})
    render_csv(frame, [ColumnSpec("t", "T")], path)
    assert path.read_bytes() == b'T\r\n"a,b"\r\n"q""q"\r\n"l\nf"\r\nplain\r\n'


@pytest.mark.parametrize("trigger", FORMULA_TRIGGERS)
def test_header_labels_are_neutralised(tmp_path: Path, trigger: str) -> None:
    path = tmp_path / "out.csv"
    columns = [ColumnSpec("id", f"{trigger}SUM(A1)", ColumnKind.INTEGER), ColumnSpec("id2", "@x")]
    render_csv(pl.LazyFrame({"id": [1], "id2": ["y"]}), columns, path)
    header, rows = read_back(path)
    assert header == [f"'{trigger}SUM(A1)", "'@x"]
    assert rows == [["1", "y"]]


def test_labels_may_repeat_and_contain_separators(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    columns = [ColumnSpec("a", 'Amount, "net"'), ColumnSpec("b", 'Amount, "net"')]
    render_csv(pl.LazyFrame({"a": ["1"], "b": ["2"]}), columns, path)
    assert read_back(path) == (['Amount, "net"', 'Amount, "net"'], [["1", "2"]])


def test_parquet_parts_come_out_in_order(tmp_path: Path) -> None:
    parts = []
    for index, (start, stop) in enumerate([(0, 1000), (1000, 1001), (1001, 1001), (1001, 4000)]):
        part = tmp_path / f"part-{index}.parquet"
        pl.DataFrame(
            {"id": pl.Series(range(start, stop), dtype=pl.Int64)},
        ).with_columns(label=pl.format("row {}", "id")).write_parquet(part)
        parts.append(part)
    path = tmp_path / "out.csv"
    columns = [ColumnSpec("id", "ID", ColumnKind.INTEGER), ColumnSpec("label", "Label")]
    assert render_csv(pl.scan_parquet(parts), columns, path) == 4000
    header, rows = read_back(path)
    assert rows == [[str(i), f"row {i}"] for i in range(4000)]


def test_empty_input_gives_a_header_only_file(tmp_path: Path) -> None:
    part = tmp_path / "empty.parquet"
    pl.DataFrame(
        {"id": [], "at": []}, schema={"id": pl.Int64, "at": pl.Datetime("us")}
    ).write_parquet(part)
    path = tmp_path / "out.csv"
    columns = [
        ColumnSpec("id", "ID", ColumnKind.INTEGER),
        ColumnSpec("at", "At", ColumnKind.DATETIME),
    ]
    assert render_csv(pl.scan_parquet(part), columns, path) == 0
    assert path.read_bytes() == b"ID,At\r\n"


def test_records_written_per_batch_then_joined_equal_the_streamed_file(tmp_path: Path) -> None:
    """What chunks write while they extract, joined after a header, is render_csv's file."""
    frame = _frame().collect()
    streamed = tmp_path / "streamed.csv"
    render_csv(frame.lazy(), COLUMNS, streamed)
    parts = []
    for index, (start, length) in enumerate([(0, 4), (4, 0), (4, 1), (5, N - 5)]):
        part = tmp_path / f"part-{index}.csv"
        with part.open("wb") as fh:
            write_csv_records(frame.slice(start, length), COLUMNS, fh)
        parts.append(part)
    joined = tmp_path / "joined.csv"
    digest = concat_csv((p.open("rb") for p in parts), COLUMNS, joined)
    assert joined.read_bytes() == streamed.read_bytes()
    assert digest == hashlib.sha256(streamed.read_bytes()).hexdigest()
    header, rows = read_back(joined)
    assert len(rows) == N and rows[6][1] == "'=SUM(A1:A2)"


def test_joined_parts_and_their_checksum_whatever_the_parts_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Local files (copied by the kernel), object-store handles and a filesystem without
    copy_file_range give the same file and the same SHA-256 of it."""
    blobs = [b"a,1\r\n" * 200_000, b"", b'"x\r\ny",2\r\n', bytes(range(256)) * 9000]
    paths = []
    for index, blob in enumerate(blobs):
        paths.append(tmp_path / f"part-{index}")
        paths[-1].write_bytes(blob)
    expected = header_record(COLUMNS) + b"".join(blobs)
    checksum = hashlib.sha256(expected).hexdigest()

    local = tmp_path / "local.csv"
    assert concat_csv((p.open("rb") for p in paths), COLUMNS, local) == checksum
    in_memory = tmp_path / "in-memory.csv"
    assert concat_csv((io.BytesIO(b) for b in blobs), COLUMNS, in_memory) == checksum

    def unsupported(*_args: object, **_kwargs: object) -> int:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "copy_file_range", unsupported)
    fallback = tmp_path / "fallback.csv"
    assert concat_csv((p.open("rb") for p in paths), COLUMNS, fallback) == checksum
    for path in (local, in_memory, fallback):
        assert path.read_bytes() == expected
