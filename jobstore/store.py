"""Reading and writing export jobs. Every write is one short transaction."""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jobstore.models import ExportJob, JobState, utcnow
from report_exports.database import engine_for
from report_exports.errors import NotFoundError
from report_exports.settings import get_settings

RUNNABLE = frozenset({JobState.QUEUED, JobState.RUNNING, JobState.FAILED})


def job_engine() -> Engine:
    """The job store engine named by the settings."""
    return engine_for(get_settings().database_url)


def init_store(engine: Engine) -> None:
    """Migrate the job store to the newest schema (creates the tables on first use)."""
    from jobstore.migrations import upgrade_to_head  # Alembic only where stores are opened

    upgrade_to_head(engine)


def uuid7() -> str:
    """A time-ordered UUIDv7 (RFC 9562) as text."""
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis & (2**48 - 1)) << 80 | 0x7 << 76 | (rand >> 68 & 0xFFF) << 64
    value |= 0b10 << 62 | rand & (2**62 - 1)
    return str(uuid.UUID(int=value))


def params_fingerprint(
    surface: str, account_id: int, report_type: str, fmt: str, params: dict[str, Any]
) -> str:
    """A stable hash of what was asked, for dedupe of identical requests."""
    canonical = json.dumps(
        [surface, account_id, report_type, fmt, params],
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def create_job(
    engine: Engine,
    *,
    surface: str,
    account_id: int,
    report_type: str,
    fmt: str,
    params: dict[str, Any],
    requested_by: str | None = None,
    dedupe_key: str | None = None,
) -> ExportJob:
    """Insert a queued job and return it (IntegrityError if ``dedupe_key`` is taken)."""
    job = ExportJob(
        public_id=uuid7(),
        surface=surface,
        account_id=account_id,
        report_type=report_type,
        format=fmt,
        params=params,
        requested_by=requested_by,
        state=JobState.QUEUED,
        params_hash=params_fingerprint(surface, account_id, report_type, fmt, params),
        dedupe_key=dedupe_key,
    )
    with Session(engine, expire_on_commit=False) as session, session.begin():
        session.add(job)
    return job


def create_job_once(
    engine: Engine,
    *,
    surface: str,
    account_id: int,
    report_type: str,
    fmt: str,
    params: dict[str, Any],
    requested_by: str | None = None,
    reuse_completed_for: timedelta = timedelta(0),
) -> tuple[ExportJob, bool]:
    """Create a job unless an identical one may answer; returns (job, created).

    An identical job answers while it is queued or running, and, for
    ``reuse_completed_for``, after it succeeded. The unique ``dedupe_key`` makes the
    database settle concurrent identical requests: exactly one insert wins.
    """
    key = params_fingerprint(surface, account_id, report_type, fmt, params)
    for _ in range(5):
        try:
            job = create_job(
                engine,
                surface=surface,
                account_id=account_id,
                report_type=report_type,
                fmt=fmt,
                params=params,
                requested_by=requested_by,
                dedupe_key=key,
            )
            return job, True
        except IntegrityError:
            pass
        with Session(engine, expire_on_commit=False) as session:
            existing = session.scalars(select(ExportJob).where(ExportJob.dedupe_key == key)).first()
        if existing is None:
            continue  # released in between: try again
        if existing.state in (JobState.QUEUED, JobState.RUNNING):
            return existing, False
        fresh = existing.completed_at and existing.completed_at >= utcnow() - reuse_completed_for
        if existing.state == JobState.SUCCEEDED and fresh:
            return existing, False
        release_dedupe(engine, existing.id)
    raise RuntimeError("could not settle an identical concurrent request")


def release_dedupe(engine: Engine, job_id: int) -> None:
    """This job no longer answers identical requests."""
    with engine.begin() as conn:
        conn.execute(update(ExportJob).where(ExportJob.id == job_id).values(dedupe_key=None))


def set_flow_run(engine: Engine, job_id: int, flow_run_id: str) -> None:
    """Remember the flow run launched for the job."""
    with engine.begin() as conn:
        conn.execute(
            update(ExportJob)
            .where(ExportJob.id == job_id)
            .values(flow_run_id=flow_run_id, updated_at=utcnow())
        )


def get_job(engine: Engine, job_id: int) -> ExportJob:
    """The job with this id, or NotFoundError."""
    with Session(engine, expire_on_commit=False) as session:
        job = session.get(ExportJob, job_id)
    if job is None:
        raise NotFoundError(f"export job {job_id} not found")
    return job


def _update(
    engine: Engine, job_id: int, *, from_states: frozenset[str] | None = None, **values: Any
) -> bool:
    """Apply ``values`` to the job if it is in one of ``from_states`` (default: not finished)."""
    stmt = update(ExportJob).where(ExportJob.id == job_id).values(updated_at=utcnow(), **values)
    if from_states is None:
        stmt = stmt.where(ExportJob.state.not_in(JobState.TERMINAL))
    else:
        stmt = stmt.where(ExportJob.state.in_(from_states))
    with engine.begin() as conn:
        return conn.execute(stmt).rowcount == 1


def mark_running(
    engine: Engine, job_id: int, *, flow_run_id: str | None, parts_total: int, parts_done: int
) -> bool:
    """The flow run has planned its chunks; ``parts_done`` counts parts kept from a retry.

    A failed job may run again (an operator retried its flow run); a cancelled one may not.
    """
    return _update(
        engine,
        job_id,
        from_states=RUNNABLE,
        state=JobState.RUNNING,
        flow_run_id=flow_run_id,
        parts_total=parts_total,
        parts_done=parts_done,
        started_at=utcnow(),
        error_message=None,
        completed_at=None,
    )


def record_part_done(engine: Engine, job_id: int) -> None:
    """One more chunk is in staging (atomic increment, safe from concurrent tasks)."""
    _update(engine, job_id, parts_done=ExportJob.parts_done + 1)


def mark_succeeded(
    engine: Engine,
    job_id: int,
    *,
    row_count: int,
    file_size_bytes: int,
    sha256: str,
    filename: str,
    content_type: str,
    storage_key: str,
    expires_at: datetime,
) -> bool:
    """The file is published: the job becomes succeeded with everything about its file."""
    return _update(
        engine,
        job_id,
        state=JobState.SUCCEEDED,
        row_count=row_count,
        file_size_bytes=file_size_bytes,
        sha256=sha256,
        filename=filename,
        content_type=content_type,
        storage_key=storage_key,
        expires_at=expires_at,
        completed_at=utcnow(),
        error_message=None,
    )


def mark_failed(engine: Engine, job_id: int, message: str) -> bool:
    """The run failed or crashed; keep why."""
    return _update(
        engine,
        job_id,
        state=JobState.FAILED,
        error_message=message[:4000],
        completed_at=utcnow(),
        dedupe_key=None,
    )


def mark_cancelled(
    engine: Engine, job_id: int, message: str = "cancelled", *, only_if_queued: bool = False
) -> bool:
    """The job was cancelled before it finished (``only_if_queued``: not once it started)."""
    states = frozenset({JobState.QUEUED}) if only_if_queued else None
    return _update(
        engine,
        job_id,
        from_states=states,
        state=JobState.CANCELLED,
        error_message=message,
        completed_at=utcnow(),
        dedupe_key=None,
    )


def mark_expired(engine: Engine, job_id: int) -> bool:
    """The file is past retention and was deleted."""
    stmt = (
        update(ExportJob)
        .where(ExportJob.id == job_id, ExportJob.state == JobState.SUCCEEDED)
        .values(state=JobState.EXPIRED, storage_key=None, dedupe_key=None, updated_at=utcnow())
    )
    with engine.begin() as conn:
        return conn.execute(stmt).rowcount == 1


def expired_jobs(engine: Engine, now: datetime, limit: int = 500) -> list[ExportJob]:
    """Succeeded jobs whose files are past retention."""
    stmt = (
        select(ExportJob)
        .where(ExportJob.state == JobState.SUCCEEDED, ExportJob.expires_at < now)
        .order_by(ExportJob.id)
        .limit(limit)
    )
    with Session(engine, expire_on_commit=False) as session:
        return list(session.scalars(stmt))


def list_jobs(
    engine: Engine, *, where: Callable[[Any], Any] | None = None, limit: int = 100
) -> list[ExportJob]:
    """Jobs newest first, optionally filtered by a SQLAlchemy predicate builder."""
    stmt = select(ExportJob).order_by(ExportJob.id.desc()).limit(limit)
    if where is not None:
        stmt = stmt.where(where(ExportJob))
    with Session(engine, expire_on_commit=False) as session:
        return list(session.scalars(stmt))
