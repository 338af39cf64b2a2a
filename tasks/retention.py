"""retention: delete files past retention and mark their jobs expired."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from jobstore.idempotency import forget_expired_keys
from jobstore.models import ExportJob, JobState
from jobstore.store import expired_jobs, job_engine
from jobstore.transitions import mark_expired
from report_exports.errors import StorageError, TransientStorageError
from report_exports.settings import get_settings
from storage.files import Storage, default_storage, staging_prefix
from submission.events import ExportEvent, emit_export_event
from tasks.retry import retry_on_transient


def expire_files(engine: Engine, storage: Storage, now: datetime) -> list[int]:
    """Delete every file past its expiry, then mark its job expired; returns the job ids.

    A file that cannot be deleted leaves its job as it is, so the next run tries again;
    the other jobs go on, and the failure is raised once they are done.
    """
    done, failures = [], []
    for job in expired_jobs(engine, now):
        if job.storage_key:
            try:
                storage.delete(job.storage_key)  # the file goes first: never expired-but-served
            except StorageError as exc:
                failures.append(exc)
                continue
        if mark_expired(engine, job.id):
            done.append(job.id)
            emit_export_event(engine, ExportEvent.EXPIRED, job.id)
    _raise_any(failures, "expired files")
    return done


def drop_stale_staging(engine: Engine, storage: Storage, older_than: datetime) -> list[int]:
    """Remove staged parts that failed or cancelled jobs left behind (nobody retried them)."""
    stmt = select(ExportJob.id).where(
        ExportJob.state.in_((JobState.FAILED, JobState.CANCELLED)),
        ExportJob.completed_at < older_than,
    )
    with Session(engine) as session:
        ids = list(session.scalars(stmt))
    failures = []
    for job_id in ids:
        try:
            storage.delete_prefix(staging_prefix(job_id))
        except StorageError as exc:
            failures.append(exc)
    _raise_any(failures, "staging folders")
    return ids


def _raise_any(failures: list[StorageError], what: str) -> None:
    if not failures:
        return
    transient = all(isinstance(f, TransientStorageError) for f in failures)
    error = TransientStorageError if transient else StorageError
    raise error(f"{len(failures)} {what} could not be deleted; first: {failures[0]}")


@task(
    name="expire-files",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=[5, 30],
    retry_condition_fn=retry_on_transient,
)
def expire(now_iso: str | None = None) -> dict[str, list[int]]:
    """Apply retention to published files, leftover staging and abandoned uploads."""
    now = datetime.fromisoformat(now_iso) if now_iso else datetime.now(UTC)
    engine, storage = job_engine(), default_storage()
    retention = timedelta(hours=get_settings().retention_hours)
    expired = expire_files(engine, storage, now)
    staging = drop_stale_staging(engine, storage, now - retention)
    # An upload older than the retention belongs to a process that died mid-publish.
    storage.abort_stale_uploads(now - retention)
    return {"expired": expired, "staging_dropped": staging}


@task(name="forget-idempotency-keys", cache_policy=NO_CACHE)
def forget_idempotency_keys(now_iso: str | None = None) -> int:
    """Delete Idempotency-Keys past their lifetime (24 h) with their stored answers."""
    now = datetime.fromisoformat(now_iso) if now_iso else datetime.now(UTC)
    return forget_expired_keys(job_engine(), now)
