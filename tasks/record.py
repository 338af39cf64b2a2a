"""record: the job row learns about its file, then staging is cleared."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import Engine

from jobstore.store import job_engine
from jobstore.transitions import mark_succeeded
from report_exports.errors import ExportError
from report_exports.settings import get_settings
from storage.files import Storage, default_storage, staging_prefix
from tasks.job_context import JobRef
from tasks.publish import PublishedFile
from tasks.run_log import logged_failure, run_logger


def record_result(
    engine: Engine, job_id: int, published: PublishedFile, storage: Storage, retention: timedelta
) -> datetime:
    """Mark the job succeeded with its file facts; returns when the file expires."""
    expires_at = datetime.now(UTC) + retention
    recorded = mark_succeeded(
        engine,
        job_id,
        row_count=published.row_count,
        file_size_bytes=published.size_bytes,
        sha256=published.sha256,
        filename=published.filename,
        content_type=published.content_type,
        storage_key=published.storage_key,
        expires_at=expires_at,
    )
    if not recorded:  # cancelled (or failed) while we worked: the file must not linger
        storage.delete(published.storage_key)
        raise ExportError(f"job {job_id} finished elsewhere; its file was withdrawn")
    storage.delete_prefix(staging_prefix(job_id))
    return expires_at


@task(name="record", task_run_name="record", cache_policy=NO_CACHE)
def record(job: JobRef, published: PublishedFile) -> dict[str, object]:
    """Record the result on the job row."""
    with logged_failure("record"):
        expires_at = record_result(
            job_engine(),
            job.job_id,
            published,
            default_storage(),
            timedelta(hours=get_settings().retention_hours),
        )
    run_logger().info(
        "record: job %s is now succeeded: %s rows, %s bytes, expires %s",
        job.job_id,
        published.row_count,
        published.size_bytes,
        expires_at.isoformat(timespec="seconds"),
    )
    return {
        "job_id": job.job_id,
        "storage_key": published.storage_key,
        "rows": published.row_count,
        "bytes": published.size_bytes,
        "sha256": published.sha256,
        "expires_at": expires_at.isoformat(),
    }
