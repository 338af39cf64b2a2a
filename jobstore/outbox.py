"""The launch outbox: queued deployment jobs without a flow run, and who may launch them.

A job is written queued with no flow run (``jobstore.store.create_job``): that row is the
outbox entry. A launcher (the API's background delivery, the reconciler, the recurring
flow) *claims* jobs with a lease, creates their flow runs with an idempotency key (a
second launcher that races it gets the same run back), then records the run. A launcher
that dies mid-way leaves a lease that runs out; the next one takes the job again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Connection, Engine, and_, func, or_, select, update
from sqlalchemy.orm import Session

from jobstore.models import ExportJob, JobState, LaunchMode, utcnow


def _waiting(now: datetime) -> list[ColumnElement[bool]]:
    return [
        ExportJob.state == JobState.QUEUED,
        ExportJob.flow_run_id.is_(None),
        ExportJob.launch_mode == LaunchMode.DEPLOYMENT,
        or_(ExportJob.launch_claimed_until.is_(None), ExportJob.launch_claimed_until < now),
    ]


def launched_unfinished(engine: Engine) -> int:
    """Jobs whose flow run exists and has not finished (what the Prefect server is busy with)."""
    stmt = (
        select(func.count())
        .select_from(ExportJob)
        .where(
            ExportJob.state.in_((JobState.QUEUED, JobState.RUNNING)),
            ExportJob.flow_run_id.is_not(None),
            ExportJob.launch_mode == LaunchMode.DEPLOYMENT,
        )
    )
    with Session(engine) as session:
        return int(session.execute(stmt).scalar_one())


def _claim(conn: Connection, job_id: int, lease: timedelta, now: datetime) -> bool:
    """One guarded UPDATE: the job is this launcher's until ``now + lease`` if it waits."""
    won = conn.execute(
        update(ExportJob)
        .where(ExportJob.id == job_id, *_waiting(now))
        .values(
            launch_claimed_until=now + lease,
            launch_attempts=ExportJob.launch_attempts + 1,
        )
    ).rowcount
    return bool(won)


def claim_launches(
    engine: Engine,
    *,
    lease: timedelta,
    limit: int = 20,
    older_than: timedelta = timedelta(0),
    in_flight_limit: int | None = None,
    now: datetime | None = None,
) -> list[ExportJob]:
    """Lease up to ``limit`` jobs that wait for a launch, oldest first; returns them.

    ``older_than`` leaves young jobs to the process that made them (the reconciler only
    takes what an API process should have launched by now). ``in_flight_limit`` is
    backpressure: no more claims than leave at most that many jobs launched and unfinished
    (two launchers racing may pass it by a few; it is a bound on load, not a lock). Each
    claim is one guarded UPDATE, so two launchers never hold the same job at once.
    """
    now = now or utcnow()
    if in_flight_limit is not None:
        limit = min(limit, in_flight_limit - launched_unfinished(engine))
        if limit <= 0:
            return []
    stmt = (
        select(ExportJob.id)
        .where(*_waiting(now), ExportJob.created_at <= now - older_than)
        .order_by(ExportJob.id)
        .limit(limit)
    )
    with Session(engine) as session:
        candidates = list(session.scalars(stmt))
    with engine.begin() as conn:
        claimed = [job_id for job_id in candidates if _claim(conn, job_id, lease, now)]
    if not claimed:
        return []
    with Session(engine, expire_on_commit=False) as session:
        return list(
            session.scalars(
                select(ExportJob).where(ExportJob.id.in_(claimed)).order_by(ExportJob.id)
            )
        )


def claim_launch(engine: Engine, job_id: int, *, lease: timedelta) -> ExportJob | None:
    """Lease one job that waits for its launch (the process that made it launches it now)."""
    with engine.begin() as conn:
        if not _claim(conn, job_id, lease, utcnow()):
            return None
    with Session(engine, expire_on_commit=False) as session:
        return session.get(ExportJob, job_id)


def record_launch(engine: Engine, job_id: int, flow_run_id: str) -> bool:
    """The job's flow run exists: remember it (a job already started or finished keeps its own)."""
    stmt = (
        update(ExportJob)
        .where(
            ExportJob.id == job_id,
            or_(
                ExportJob.flow_run_id.is_(None),
                ExportJob.flow_run_id == flow_run_id,
            ),
        )
        .values(flow_run_id=flow_run_id, launch_claimed_until=None, updated_at=utcnow())
    )
    with engine.begin() as conn:
        return conn.execute(stmt).rowcount == 1


def retry_launch_at(engine: Engine, job_id: int, when: datetime) -> None:
    """The launch failed for now: nobody claims the job again before ``when``."""
    with engine.begin() as conn:
        conn.execute(
            update(ExportJob)
            .where(ExportJob.id == job_id, ExportJob.flow_run_id.is_(None))
            .values(launch_claimed_until=when)
        )


def pending_launches(engine: Engine) -> int:
    """How many jobs wait for a launch now (for logs and tests)."""
    stmt = select(func.count()).select_from(ExportJob).where(*_waiting(utcnow()))
    with Session(engine) as session:
        return int(session.execute(stmt).scalar_one())


def unfinished_with_runs(engine: Engine, limit: int = 500) -> list[ExportJob]:
    """Queued or running jobs that have a flow run (the reconciler checks each run)."""
    stmt = (
        select(ExportJob)
        .where(
            ExportJob.state.in_((JobState.QUEUED, JobState.RUNNING)),
            ExportJob.flow_run_id.is_not(None),
        )
        .order_by(ExportJob.id)
        .limit(limit)
    )
    with Session(engine, expire_on_commit=False) as session:
        return list(session.scalars(stmt))


def local_jobs_never_started(engine: Engine, older_than: datetime) -> list[ExportJob]:
    """Jobs a process meant to run itself that never began (that process died first)."""
    stmt = select(ExportJob).where(
        ExportJob.state == JobState.QUEUED,
        ExportJob.launch_mode == LaunchMode.LOCAL,
        ExportJob.created_at < older_than,
    )
    with Session(engine, expire_on_commit=False) as session:
        return list(session.scalars(stmt))


def files_of_unsuccessful_jobs(engine: Engine, limit: int = 500) -> list[ExportJob]:
    """Failed or cancelled jobs that still name a file (published before they died)."""
    stmt = (
        select(ExportJob)
        .where(
            ExportJob.state.in_((JobState.FAILED, JobState.CANCELLED)),
            ExportJob.storage_key.is_not(None),
        )
        .limit(limit)
    )
    with Session(engine, expire_on_commit=False) as session:
        return list(session.scalars(stmt))


def silent_running_jobs(engine: Engine, stale_before: datetime) -> list[ExportJob]:
    """Running jobs whose flow run has not beaten since ``stale_before``."""
    stmt = select(ExportJob).where(
        ExportJob.state == JobState.RUNNING,
        and_(ExportJob.heartbeat_at.is_not(None), ExportJob.heartbeat_at < stale_before),
    )
    with Session(engine, expire_on_commit=False) as session:
        return list(session.scalars(stmt))
