"""The cleanup-expired flow on S3: expired objects, stale staging, abandoned uploads.

What is left in the bucket is listed with a plain botocore client.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from jobstore.models import ExportJob
from jobstore.store import get_job, job_engine
from storage.files import staging_prefix
from tests.storage.conftest import S3Server, export_job

pytestmark = [pytest.mark.s3, pytest.mark.usefixtures("prefect_server", "demo_source")]


def test_cleanup_deletes_expired_objects_and_stale_staging(
    s3_server: S3Server, s3_storage_env: str
) -> None:
    from flows.cleanup_expired import cleanup_expired

    prefix = s3_storage_env
    job = export_job("verifyhuman", "overview", "csv")
    assert job.state == "succeeded" and job.storage_key is not None
    kept = export_job("verifyhuman", "volume", "csv")
    assert kept.state == "succeeded" and kept.storage_key is not None
    # A failed job of two days ago whose parts nobody retried.
    failed = export_job("verifyhuman", "usage", "csv")
    leftover = f"{prefix}/{staging_prefix(failed.id)}/chunk-x/rows.parquet"
    s3_server.client().put_object(Bucket=s3_server.bucket, Key=leftover, Body=b"part")
    now = datetime.now(UTC)
    with job_engine().begin() as conn:
        conn.execute(
            update(ExportJob).where(ExportJob.id == job.id).values(expires_at=now - timedelta(1))
        )
        conn.execute(
            update(ExportJob)
            .where(ExportJob.id == failed.id)
            .values(state="failed", completed_at=now - timedelta(days=2))
        )

    result = cleanup_expired()

    assert job.id in result["expired"] and kept.id not in result["expired"]
    assert failed.id in result["staging_dropped"]
    assert get_job(job_engine(), job.id).state == "expired"
    remaining = s3_server.keys(prefix)
    assert f"{prefix}/{job.storage_key}" not in remaining, "the expired object is gone"
    assert f"{prefix}/{kept.storage_key}" in remaining, "a file within retention stays"
    assert not any(k.startswith(f"{prefix}/staging/") for k in remaining)


def test_cleanup_aborts_abandoned_multipart_uploads(
    s3_server: S3Server, s3_storage_env: str
) -> None:
    from storage.files import default_storage

    client = s3_server.client()
    key = f"{s3_storage_env}/exports/account-1/job-0/t/abandoned.csv"
    upload = client.create_multipart_upload(Bucket=s3_server.bucket, Key=key)
    client.upload_part(
        Bucket=s3_server.bucket, Key=key, UploadId=upload["UploadId"], PartNumber=1, Body=b"x"
    )
    storage = default_storage()
    assert storage.abort_stale_uploads(datetime.now(UTC) - timedelta(hours=1)) == 0
    assert storage.abort_stale_uploads(datetime.now(UTC) + timedelta(minutes=1)) == 1
    listing = client.list_multipart_uploads(Bucket=s3_server.bucket, Prefix=s3_storage_env)
    assert listing.get("Uploads", []) == []


def test_cleanup_keeps_the_job_when_s3_cannot_delete_its_file(
    s3_server: S3Server, s3_storage_env: str
) -> None:
    from report_exports.errors import TransientStorageError
    from storage.files import Storage
    from storage.s3 import S3Options
    from tasks.retention import expire_files
    from tests.storage.conftest import _free_ports

    job = export_job("verifyhuman", "overview", "csv")
    assert job.state == "succeeded" and job.storage_key is not None
    now = datetime.now(UTC)
    with job_engine().begin() as conn:
        conn.execute(
            update(ExportJob).where(ExportJob.id == job.id).values(expires_at=now - timedelta(1))
        )
    (port,) = _free_ports(1)
    options = S3Options(f"http://127.0.0.1:{port}", "key", "secret", s3_server.region)
    unreachable = Storage.from_url(f"s3://{s3_server.bucket}/{s3_storage_env}", options)
    with pytest.raises(TransientStorageError, match="could not be deleted"):
        expire_files(job_engine(), unreachable, now)
    assert get_job(job_engine(), job.id).state == "succeeded", "not expired while its file stays"
    assert f"{s3_storage_env}/{job.storage_key}" in s3_server.keys(s3_storage_env)
