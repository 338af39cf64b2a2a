"""Creating and reading export jobs. Every write is one short transaction.

State changes live in ``jobstore.transitions`` (each guarded by the states it may leave),
launch leases of the outbox in ``jobstore.outbox``.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jobstore.models import ExportJob, JobState, LaunchMode, utcnow
from jobstore.transitions import release_dedupe
from report_exports.database import engine_for
from report_exports.errors import NotFoundError
from report_exports.settings import get_settings


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


def dedupe_key(fingerprint: str, scope: str | None) -> str:
    """The fingerprint of a request, narrowed to ``scope`` (a user) when there is one."""
    if scope is None:
        return fingerprint
    return hashlib.sha256(f"{fingerprint}|{scope}".encode()).hexdigest()


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
    launch_mode: LaunchMode = LaunchMode.DEPLOYMENT,
    schedule_id: str | None = None,
) -> ExportJob:
    """Insert a queued job and return it (IntegrityError if ``dedupe_key`` is taken).

    A deployment job is its own outbox entry: written queued without a flow run, in the
    same transaction as everything else about it, so no crash can lose its launch.
    """
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
        launch_mode=launch_mode,
        launch_attempts=0,
        rows_done=0,
        schedule_id=schedule_id,
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
    scope: str | None = None,
    launch_mode: LaunchMode = LaunchMode.DEPLOYMENT,
    schedule_id: str | None = None,
) -> tuple[ExportJob, bool]:
    """Create a job unless an identical one may answer; returns (job, created).

    An identical job answers while it is queued or running, and, for
    ``reuse_completed_for``, after it succeeded. The unique ``dedupe_key`` makes the
    database settle concurrent identical requests: exactly one insert wins. ``scope``
    narrows who shares a job: on a surface where members see only their own jobs it is
    the requesting user, so nobody is answered with a job they could not read.
    """
    key = dedupe_key(params_fingerprint(surface, account_id, report_type, fmt, params), scope)
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
                launch_mode=launch_mode,
                schedule_id=schedule_id,
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


def get_job(engine: Engine, job_id: int) -> ExportJob:
    """The job with this id, or NotFoundError."""
    with Session(engine, expire_on_commit=False) as session:
        job = session.get(ExportJob, job_id)
    if job is None:
        raise NotFoundError(f"export job {job_id} not found")
    return job


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
