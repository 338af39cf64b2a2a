"""tasks/render.py: a render that fails leaves no file in the scratch folder; the file a
render makes is private."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from catalog.registry import get_report, parse_params
from report_exports.errors import ExportError
from storage.files import Storage
from tasks.job_context import ExportContext, JobRef
from tasks.merge import MergedExport
from tasks.render import render_export
from tests.factories import umask

PART = "staging/job-7/0000/rows.csv"


def _full_csv(tmp_path: Path, *rows_keys: str) -> tuple[ExportContext, MergedExport, Storage, Path]:
    """Job 7, VerifyHuman's full CSV, with one CSV part staged; the parts named, and scratch."""
    report = get_report("verifyhuman", "full")
    params = parse_params(report, {"env": "live", "from": "2025-12-01", "to": "2025-12-31"})
    ctx = ExportContext(JobRef(7, report.name, "csv"), 1, "acme", report, params)
    storage = Storage.from_url(str(tmp_path / "files"))
    part = tmp_path / "rows.csv"
    part.write_bytes(b"1,2\r\n")
    storage.put_atomic(part, PART)
    merged = MergedExport(rows_keys=rows_keys, source_rows=len(rows_keys), rows_as="csv")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    return ctx, merged, storage, scratch


def test_a_missing_csv_part_fails_the_render_and_leaves_no_file(tmp_path: Path) -> None:
    ctx, merged, storage, scratch = _full_csv(tmp_path, PART, "staging/job-7/0001/rows.csv")
    with pytest.raises(ExportError):
        render_export(ctx, merged, storage, scratch)
    assert list(scratch.iterdir()) == []


def test_the_rendered_file_is_0600_whatever_the_umask(tmp_path: Path) -> None:
    ctx, merged, storage, scratch = _full_csv(tmp_path, PART)
    with umask(0):
        rendered = render_export(ctx, merged, storage, scratch)
    assert stat.S_IMODE(Path(rendered.path).stat().st_mode) == 0o600
    assert Path(rendered.path).read_bytes().endswith(b"1,2\r\n")
