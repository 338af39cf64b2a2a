"""What routes call: create (deduped, launched), read (with live status), cancel.

Routes parse and serialise; these functions authorise and talk to the job store and
Prefect. Nothing here runs pipeline code.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api_shim.downloads import file_present
from api_shim.errors import ApiError, service_unavailable
from api_shim.launcher import LaunchError, cancel, launch, read_run_states
from api_shim.status import Status, surface_status
from catalog.fields import BIGINT_MAX
from catalog.registry import validate_request
from jobstore.accounts import Principal
from jobstore.models import ExportJob, JobState
from jobstore.store import (
    create_job_once,
    get_job,
    job_engine,
    mark_cancelled,
    mark_failed,
    set_flow_run,
)
from report_exports.errors import NotFoundError

JOB_NOT_FOUND = "Export job not found"


@dataclass(frozen=True)
class JobView:
    """A job as one surface sees it."""

    job: ExportJob
    status: Status


async def create_export(
    principal: Principal,
    surface: str,
    report_type: str,
    fmt: str | None,
    params: dict[str, Any],
    *,
    reuse_completed_for: timedelta = timedelta(0),
) -> tuple[JobView, bool]:
    """Validate, create (or find the identical job) and launch its flow run."""
    request = validate_request(surface, report_type, fmt, params)
    engine = job_engine()
    job, created = create_job_once(
        engine,
        surface=surface,
        account_id=principal.account_id,
        report_type=report_type,
        fmt=request.format,
        params=request.params_json(),
        requested_by=principal.user,
        reuse_completed_for=reuse_completed_for,
    )
    if created:
        try:
            flow_run_id = await launch(job)
        except LaunchError as exc:
            # Never leave a job queued that nothing will run.
            mark_failed(engine, job.id, str(exc))
            raise service_unavailable() from exc
        set_flow_run(engine, job.id, flow_run_id)
        job = get_job(engine, job.id)
    return (await views(surface, [job]))[0], created


async def views(surface: str, jobs: list[ExportJob]) -> list[JobView]:
    """Jobs with their live status: one batched Prefect read for the unfinished ones."""
    unfinished = [j.flow_run_id for j in jobs if not j.is_terminal and j.flow_run_id]
    try:
        runs = await read_run_states(i for i in unfinished if i)
    except LaunchError as exc:
        raise service_unavailable() from exc
    out = []
    for job in jobs:
        run = runs.get(job.flow_run_id or "")
        present = job.state == JobState.SUCCEEDED and file_present(job)
        out.append(
            JobView(
                job,
                surface_status(
                    surface, job.state, run, file_present=present, error_message=job.error_message
                ),
            )
        )
    return out


def find_job(
    principal: Principal,
    surface: str,
    *,
    job_id: int | None = None,
    public_id: str | None = None,
    own_only: bool = False,
) -> ExportJob:
    """The caller's job on this surface; anything else (another account's) is not found."""
    if job_id is not None and not 0 < job_id <= BIGINT_MAX:
        # No job has such an id, and the database could not even compare with it.
        raise NotFoundError(JOB_NOT_FOUND)
    with Session(job_engine(), expire_on_commit=False) as session:
        stmt = select(ExportJob).where(
            ExportJob.surface == surface, ExportJob.account_id == principal.account_id
        )
        stmt = (
            stmt.where(ExportJob.id == job_id)
            if job_id is not None
            else stmt.where(ExportJob.public_id == public_id)
        )
        if own_only:
            stmt = stmt.where(ExportJob.requested_by == principal.user)
        job = session.scalars(stmt).first()
    if job is None:
        raise NotFoundError(JOB_NOT_FOUND)
    return job


def list_jobs(
    principal: Principal, surface: str, *, limit: int, offset: int = 0, own_only: bool = False
) -> tuple[list[ExportJob], int]:
    """The caller's jobs on this surface, newest first, and how many there are."""
    from sqlalchemy import func

    with Session(job_engine(), expire_on_commit=False) as session:
        where = [ExportJob.surface == surface, ExportJob.account_id == principal.account_id]
        if own_only:
            where.append(ExportJob.requested_by == principal.user)
        total = session.scalar(select(func.count()).select_from(ExportJob).where(*where)) or 0
        jobs = list(
            session.scalars(
                select(ExportJob)
                .where(*where)
                .order_by(ExportJob.id.desc())
                .limit(limit)
                .offset(offset)
            )
        )
    return jobs, total


async def cancel_queued(principal: Principal, surface: str, job_id: int) -> None:
    """Cancel a job that has not started; anything else is refused with its status."""
    job = find_job(principal, surface, job_id=job_id)
    (view,) = await views(surface, [job])
    if view.status.phase != "queued":
        raise ApiError(400, f"Cannot cancel export with status: {view.status.value}")
    if not mark_cancelled(job_engine(), job.id, "cancelled by the client", only_if_queued=True):
        current = (await views(surface, [get_job(job_engine(), job.id)]))[0]
        raise ApiError(400, f"Cannot cancel export with status: {current.status.value}")
    if job.flow_run_id:
        # If Prefect is unreachable the row still says cancelled, and the flow run
        # refuses to work on a cancelled job when it starts.
        with contextlib.suppress(LaunchError):
            await cancel(job.flow_run_id)
