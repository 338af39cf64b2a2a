"""tasks/render.py: a render that fails leaves no file in the scratch folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog.registry import get_report, parse_params
from report_exports.errors import ExportError
from storage.files import Storage
from tasks.job_context import ExportContext, JobRef
from tasks.merge import MergedExport
from tasks.render import render_export


def test_a_missing_csv_part_fails_the_render_and_leaves_no_file(tmp_path: Path) -> None:
    report = get_report("verifyhuman", "full")
    params = parse_params(report, {"env": "live", "from": "2025-12-01", "to": "2025-12-31"})
    ctx = ExportContext(JobRef(7, report.name, "csv"), 1, "acme", report, params)
    storage = Storage.from_url(str(tmp_path / "files"))
    part = tmp_path / "rows.csv"
    part.write_bytes(b"1,2\r\n")
    storage.put_atomic(part, "staging/job-7/0000/rows.csv")
    merged = MergedExport(
        rows_keys=("staging/job-7/0000/rows.csv", "staging/job-7/0001/rows.csv"),
        source_rows=2,
        rows_as="csv",
    )
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    with pytest.raises(ExportError):
        render_export(ctx, merged, storage, scratch)
    assert list(scratch.iterdir()) == []
