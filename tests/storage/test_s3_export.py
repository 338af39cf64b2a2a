"""An export job with REPORT_EXPORTS_STORAGE_URL=s3://...: the real flow, a real S3 server.

Staging parts and the published file are checked with a plain
botocore client; the file's rows are compared with plain SQL on the demo source.
"""

from __future__ import annotations

import csv
import hashlib
import io
import time

import pytest

from storage.files import Storage, staging_prefix
from tests.factories import DEC_END, DEC_START, query
from tests.storage.conftest import S3Server, export_job

pytestmark = [pytest.mark.s3, pytest.mark.usefixtures("prefect_server", "demo_source")]


def test_export_stages_parts_and_publishes_the_file_on_s3(
    s3_server: S3Server, s3_storage_env: str, demo_db_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = s3_storage_env
    staged: dict[str, list[str]] = {}
    clear_staging = Storage.delete_prefix

    def look_then_clear(self: Storage, folder: str) -> None:
        # record() clears staging once the file is published: see what was there first.
        staged[folder] = s3_server.keys(f"{prefix}/{folder}/")
        clear_staging(self, folder)

    monkeypatch.setattr(Storage, "delete_prefix", look_then_clear)
    started = time.monotonic()
    job = export_job()
    elapsed = time.monotonic() - started
    assert job.state == "succeeded", job.error_message
    assert job.storage_key is not None and job.filename is not None

    parts = staged[staging_prefix(job.id)]
    assert f"{prefix}/staging/job-{job.id}/plan.json" in parts
    # A CSV in chunk order: every chunk staged its records as CSV.
    chunk_parts = [k for k in parts if k.endswith("/rows.csv") and "/merged/" not in k]
    assert job.parts_total is not None and job.parts_total > 3
    assert len(chunk_parts) == job.parts_total, "every chunk staged its rows in the bucket"
    assert s3_server.keys(f"{prefix}/staging/") == [], "staging is cleared after record"

    key = job.storage_key
    assert key.startswith(f"exports/account-1/job-{job.id}/") and key.endswith(job.filename)
    assert s3_server.keys(prefix) == [f"{prefix}/{key}"], "one object: no temporary keys"
    data = s3_server.object_bytes(f"{prefix}/{key}")
    assert len(data) == job.file_size_bytes
    assert hashlib.sha256(data).hexdigest() == job.sha256
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))[1:]
    expected = query(
        demo_db_path,
        """SELECT id FROM verification_events WHERE account_id = 1 AND env = 'live'
        AND created_at >= ? AND created_at < ? ORDER BY created_at, id""",
        DEC_START,
        DEC_END,
    )
    assert [int(r[0]) for r in rows] == [e[0] for e in expected]
    assert len(rows) == job.row_count
    print(f"S3 export of {len(rows)} rows in {job.parts_total} chunks: {elapsed:.1f} s")
