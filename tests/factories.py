"""Test data factories: export requests and runs of the real flow."""

from __future__ import annotations

import csv
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from catalog.registry import validate_request
from cli.local_run import file_location, run_export_locally
from jobstore.models import ExportJob

DECEMBER = {"env": "live", "from": "2025-12-01", "to": "2025-12-31"}
DEC_START, DEC_END = "2025-12-01 00:00:00", "2026-01-01 00:00:00"
TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")


def run_export(
    surface: str, report: str, fmt: str | None, params: dict[str, Any], account_id: int = 1
) -> tuple[ExportJob, Path]:
    """Run the real export-report flow; return the job row and the published file."""
    job = run_export_locally(validate_request(surface, report, fmt, params), account_id)
    assert job.state == "succeeded", f"job {job.id} {job.state}: {job.error_message}"
    return job, Path(file_location(job))


@contextmanager
def umask(mask: int) -> Iterator[None]:
    """The block runs under ``mask``: under 0, a mode nobody set shows as 0666 or 0777."""
    before = os.umask(mask)
    try:
        yield
    finally:
        os.umask(before)


def read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a CSV file, read with the stdlib csv module."""
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def query(db: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Rows of a plain SQL query on the demo source (the independent computation)."""
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, args).fetchall()


def safe(text: str | None) -> str:
    """What a text cell must look like in a file: formula triggers neutralised."""
    if text is None:
        return ""
    return "'" + text if text.startswith(TRIGGERS) else text


def iso(ts: str | None) -> str:
    """Source timestamp text → the ISO 8601 UTC form of CSV files."""
    return "" if ts is None else ts.replace(" ", "T") + "Z"
