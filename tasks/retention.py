"""retention: delete files past retention and mark their jobs expired."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from jobstore.models import ExportJob, JobState
from jobstore.store import expired_jobs, job_engine, mark_expired
from report_exports.settings import get_settings
from storage.files import Storage, default_storage, staging_prefix


def expire_files(engine: Engine, storage: Storage, now: datetime) -> list[int]:
    """Delete every file past its expiry, then mark its job expired; returns the job ids."""
    done = []
    for job in expired_jobs(engine, now):
        if job.storage_key:
            storage.delete(job.storage_key)  # the file goes first: never expired-but-served
        if mark_expired(engine, job.id):
            done.append(job.id)
    return done


def drop_stale_staging(engine: Engine, storage: Storage, older_than: datetime) -> list[int]:
    """Remove staged parts that failed or cancelled jobs left behind (nobody retried them)."""
    stmt = select(ExportJob.id).where(
        ExportJob.state.in_((JobState.FAILED, JobState.CANCELLED)),
        ExportJob.completed_at < older_than,
    )
    with Session(engine) as session:
        ids = list(session.scalars(stmt))
    for job_id in ids:
        storage.delete_prefix(staging_prefix(job_id))
    return ids


@task(name="expire-files", cache_policy=NO_CACHE)
def expire(now_iso: str | None = None) -> dict[str, list[int]]:
    """Apply retention to published files and leftover staging."""
    now = datetime.fromisoformat(now_iso) if now_iso else datetime.now(UTC)
    engine, storage = job_engine(), default_storage()
    retention = timedelta(hours=get_settings().retention_hours)
    return {
        "expired": expire_files(engine, storage, now),
        "staging_dropped": drop_stale_staging(engine, storage, now - retention),
    }
