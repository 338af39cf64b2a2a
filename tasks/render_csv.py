"""render csv: the export as one UTF-8 CSV file, streamed by polars.

The header row is written by the stdlib ``csv`` module (labels may repeat or contain any
character, which polars column names cannot), then polars appends the data rows to the same
file handle with ``sink_csv``, so memory stays bounded by the streaming engine's batches.
Both quote only the fields that need it (separator, quote, CR or LF inside), as RFC 4180 asks.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from report_exports.documents import ColumnSpec
from tasks.cell_safety import neutralise_text, safe_frame

LINE_TERMINATOR = "\r\n"  # RFC 4180 records end with CRLF
DATE_FORMAT = "%Y-%m-%d"
# safe_frame has already converted every DATETIME column to UTC.
DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def count_rows(frame: pl.LazyFrame) -> int:
    """Rows of a lazy frame; on Parquet scans this reads only the file footers."""
    return int(frame.select(pl.len()).collect().item())


def render_csv(frame: pl.LazyFrame, columns: Sequence[ColumnSpec], path: Path) -> int:
    """Write ``frame`` as CSV with a header of labels; return the number of data rows."""
    if not columns:
        raise ValueError("a CSV export needs at least one column")
    rows = count_rows(frame)
    with path.open("wb") as fh:
        header = _header_line([neutralise_text(c.label) for c in columns])
        fh.write(header.encode("utf-8"))
        safe_frame(frame, columns).sink_csv(
            fh,
            include_header=False,
            line_terminator=LINE_TERMINATOR,
            date_format=DATE_FORMAT,
            datetime_format=DATETIME_FORMAT,
            null_value="",
            quote_style="necessary",
        )
    return rows


def _header_line(labels: Sequence[str]) -> str:
    """One CSV record quoted like polars quotes data: only where needed."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=LINE_TERMINATOR, quoting=csv.QUOTE_MINIMAL).writerow(labels)
    return buffer.getvalue()
