"""The submission service: create once → launch → record a failed launch; read; cancel.

The API's routers, the page, the CLI and the recurring flow all come in here: they
translate their own input to these calls and the :class:`JobView` back. Authorisation
(plan gate, member scope) is applied here, once, so every way in gets it. Blocking job
store and storage calls run in worker threads, never on the event loop.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from anyio import to_thread
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from catalog.fields import BIGINT_MAX
from catalog.registry import ExportRequest, validate_request
from jobstore.accounts import Principal
from jobstore.models import ExportJob, JobState, LaunchMode
from jobstore.store import create_job_once, get_job, job_engine
from jobstore.transitions import mark_cancelled
from report_exports.errors import NotFoundError, ServiceUnavailableError, ValidationError
from storage.files import default_storage
from submission import delivery, webhooks
from submission.events import ExportEvent, emit_export_event
from submission.launcher import LaunchError, cancel, read_run_states
from submission.lifecycle import RUN_ENDED, settle_with_run
from submission.progress import job_progress
from submission.status import RunState, Status, surface_status
from surfaces.base import JobShown, Phase, Surface
from surfaces.registry import get_surface

logger = logging.getLogger(__name__)

JOB_NOT_FOUND = "Export job not found"
T = TypeVar("T")


async def blocking(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking call (job store, storage) in a worker thread."""
    return await to_thread.run_sync(partial(call, *args, **kwargs))


@dataclass(frozen=True)
class JobView:
    """A job as one surface sees it."""

    job: ExportJob
    status: Status
    surface: Surface

    def progress(self) -> dict[str, float | str | None]:
        """``rows_done``, ``rows_estimated``, ``stage`` and ``eta_seconds`` of the job, now."""
        working = self.status.phase == Phase.WORKING
        return job_progress(self.job, datetime.now(UTC), working=working).as_json()

    def shown(self, project_id: str = "") -> JobShown:
        """What the surface's ``show_job`` and views take."""
        return JobShown(self.job, self.status, project_id, self.progress())


def _emit_later(what: ExportEvent, job: ExportJob | int) -> None:
    """Emit an event off the request path: a slow or absent Prefect never delays an answer."""
    call = partial(emit_export_event, job_engine(), what, job)
    threading.Thread(target=call, name=f"event-{what.value}", daemon=True).start()


def _surface(surface: Surface | str) -> Surface:
    return get_surface(surface) if isinstance(surface, str) else surface


def check_request(
    principal: Principal,
    surface: Surface | str,
    report_type: str,
    fmt: str | None,
    params: dict[str, Any],
) -> ExportRequest:
    """The plan gate and the catalog's validation, without creating anything."""
    declared = _surface(surface)
    declared.admit(principal.plan, params)
    return validate_request(declared.name, report_type, fmt or declared.default_format, params)


async def submit(
    principal: Principal,
    surface: Surface | str,
    report_type: str,
    fmt: str | None,
    params: dict[str, Any],
    *,
    reuse_completed_for: timedelta = timedelta(0),
    requested_by: str | None = None,
    launch_mode: LaunchMode = LaunchMode.DEPLOYMENT,
    launch_now: bool = False,
    schedule_id: str | None = None,
) -> tuple[JobView, bool]:
    """Validate, create the job once (or find the identical one) and have it launched.

    The job row is the outbox entry of its launch: committed before anything else, so a
    process that dies after this call returns loses nothing. By default the launch is
    delivered in the background (the API answers without waiting on Prefect);
    ``launch_now`` delivers it before returning (the recurring flow), and a launch that
    fails then is retried by the reconciler like any other.
    """
    declared = _surface(surface)
    request = check_request(principal, declared, report_type, fmt, params)
    job, created = await blocking(
        create_job_once,
        job_engine(),
        surface=declared.name,
        account_id=principal.account_id,
        report_type=report_type,
        fmt=request.format,
        params=request.params_json(),
        requested_by=requested_by or principal.user,
        reuse_completed_for=reuse_completed_for,
        scope=principal.user if declared.scopes_by_user else None,
        launch_mode=launch_mode,
        schedule_id=schedule_id,
    )
    if created:
        _emit_later(ExportEvent.CREATED, job)
    if created and launch_mode == LaunchMode.DEPLOYMENT:
        if launch_now:
            await delivery.deliver_job(job.id)
            job = await blocking(get_job, job_engine(), job.id)
        else:
            delivery.wake()
    (view,) = await views(declared, [job])
    return view, created


async def views(
    surface: Surface | str, jobs: list[ExportJob], *, check_files: bool = False
) -> list[JobView]:
    """Jobs with their live status: one batched Prefect read for the unfinished ones.

    Whether a file is there comes from the job row (succeeded, not past retention): a
    list costs no storage call. ``check_files`` also asks storage, once per job, for reads
    of a single job, so that a file gone from storage (or storage down) shows at once.
    """
    declared = _surface(surface)
    unfinished = [j.flow_run_id for j in jobs if not j.is_terminal and j.flow_run_id]
    try:
        runs = await read_run_states(i for i in unfinished if i)
    except LaunchError as exc:
        logger.warning("flow-run states unavailable: %s", exc)
        raise ServiceUnavailableError("the scheduler cannot be reached") from exc
    jobs = [await _settled(job, runs.get(job.flow_run_id or "")) for job in jobs]
    now = datetime.now(UTC)
    out = []
    for job in jobs:
        present = _file_recorded(job, now)
        if present and check_files:
            present = await blocking(default_storage().exists, job.storage_key or "")
        status = surface_status(
            declared,
            job.state,
            runs.get(job.flow_run_id or ""),
            file_present=present,
            error_message=job.error_message,
        )
        out.append(JobView(job, status, declared))
    return out


async def _settled(job: ExportJob, run: RunState | None) -> ExportJob:
    """The job, ended first if its run ended without ending it (a crash nobody recorded).

    What a read tells the client is then what the row says: the dedupe key is free and
    files are gone before the answer leaves, not at the reconciler's next pass.
    """
    if job.is_terminal or run is None or run.type not in RUN_ENDED or job.flow_run_id is None:
        return job
    engine = job_engine()
    settle = partial(settle_with_run, engine, default_storage(), job.id, job.flow_run_id, run)
    if await blocking(settle) is None:
        return job
    return await blocking(get_job, engine, job.id)


def _file_recorded(job: ExportJob, now: datetime) -> bool:
    if job.state != JobState.SUCCEEDED or job.storage_key is None:
        return False
    return job.expires_at is None or job.expires_at > now


def _find(
    principal: Principal,
    surface: Surface,
    job_id: int | None,
    public_id: str | None,
    own_only: bool,
) -> ExportJob:
    if job_id is not None and not 0 < job_id <= BIGINT_MAX:
        # No job has such an id, and the database could not even compare with it.
        raise NotFoundError(JOB_NOT_FOUND)
    with Session(job_engine(), expire_on_commit=False) as session:
        stmt = select(ExportJob).where(
            ExportJob.surface == surface.name, ExportJob.account_id == principal.account_id
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


def _own_only(principal: Principal, surface: Surface) -> bool:
    return surface.scopes_by_user and not principal.is_admin


async def find_job(
    principal: Principal,
    surface: Surface | str,
    *,
    job_id: int | None = None,
    public_id: str | None = None,
) -> ExportJob:
    """The caller's job on this surface; anything else (another account's) is not found."""
    declared = _surface(surface)
    own = _own_only(principal, declared)
    return await blocking(_find, principal, declared, job_id, public_id, own)


async def read(
    principal: Principal,
    surface: Surface | str,
    *,
    job_id: int | None = None,
    public_id: str | None = None,
) -> JobView:
    """One job of the caller, with its live status (and its file checked in storage)."""
    declared = _surface(surface)
    job = await find_job(principal, declared, job_id=job_id, public_id=public_id)
    (view,) = await views(declared, [job], check_files=True)
    return view


def _list(
    principal: Principal, surface: Surface, limit: int, offset: int
) -> tuple[list[ExportJob], int]:
    with Session(job_engine(), expire_on_commit=False) as session:
        where = [ExportJob.surface == surface.name, ExportJob.account_id == principal.account_id]
        if _own_only(principal, surface):
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


async def list_views(
    principal: Principal, surface: Surface | str, *, limit: int, offset: int = 0
) -> tuple[list[JobView], int]:
    """The caller's jobs on this surface, newest first, and how many there are."""
    declared = _surface(surface)
    jobs, total = await blocking(_list, principal, declared, limit, offset)
    return await views(declared, jobs), total


def _visible(principal: Principal, names: list[str], own_only: bool) -> list[Any]:
    """WHERE clauses: the account's jobs on these surfaces, scoped as each surface says.

    ``own_only`` scopes a member to their own jobs on every surface (the page's rule); a
    surface that scopes by user (HiEnergy) scopes members whatever it is.
    """
    scoped = [n for n in names if own_only or _own_only(principal, get_surface(n))]
    where: list[Any] = [ExportJob.account_id == principal.account_id]
    where.append(ExportJob.surface.in_(names))
    if scoped:
        where.append(ExportJob.surface.not_in(scoped) | (ExportJob.requested_by == principal.user))
    return where


def _list_account(
    principal: Principal, names: list[str], own_only: bool, limit: int, offset: int
) -> tuple[list[ExportJob], int]:
    where = _visible(principal, names, own_only)
    with Session(job_engine(), expire_on_commit=False) as session:
        total = session.scalar(select(func.count()).select_from(ExportJob).where(*where)) or 0
        stmt = select(ExportJob).where(*where).order_by(ExportJob.id.desc())
        jobs = list(session.scalars(stmt.limit(limit).offset(offset)))
    return jobs, total


async def _views_in_order(jobs: list[ExportJob], *, check_files: bool = False) -> list[JobView]:
    """Views of jobs of several surfaces, in the given order (one Prefect read per surface)."""
    by_surface: dict[str, list[ExportJob]] = {}
    for job in jobs:
        by_surface.setdefault(job.surface, []).append(job)
    found: dict[int, JobView] = {}
    for name, group in by_surface.items():
        for view in await views(name, group, check_files=check_files):
            found[view.job.id] = view
    return [found[job.id] for job in jobs]


async def list_account_views(
    principal: Principal,
    surfaces: list[str],
    *,
    limit: int,
    offset: int = 0,
    own_only: bool = False,
) -> tuple[list[JobView], int]:
    """The caller's jobs on several surfaces, newest first, and how many there are."""
    jobs, total = await blocking(_list_account, principal, surfaces, own_only, limit, offset)
    return await _views_in_order(jobs), total


def _find_public(
    principal: Principal, names: list[str], own_only: bool, public_id: str
) -> ExportJob:
    where = _visible(principal, names, own_only)
    with Session(job_engine(), expire_on_commit=False) as session:
        stmt = select(ExportJob).where(*where, ExportJob.public_id == public_id)
        job = session.scalars(stmt).first()
    if job is None:
        raise NotFoundError(JOB_NOT_FOUND)
    return job


async def read_account_job(
    principal: Principal, surfaces: list[str], public_id: str, *, own_only: bool = False
) -> JobView:
    """One job of the caller on any of these surfaces, by public id (file checked)."""
    job = await blocking(_find_public, principal, surfaces, own_only, public_id)
    (view,) = await _views_in_order([job], check_files=True)
    return view


class NotCancellable(ValidationError):
    """The job has started or finished; ``status`` is what the surface calls it now."""

    def __init__(self, status: str) -> None:
        super().__init__(f"Cannot cancel export with status: {status}")
        self.status = status


async def cancel_queued(
    principal: Principal,
    surface: Surface | str,
    *,
    job_id: int | None = None,
    public_id: str | None = None,
) -> JobView:
    """Cancel a job that has not started; anything else is refused with its status."""
    declared = _surface(surface)
    job = await find_job(principal, declared, job_id=job_id, public_id=public_id)
    (view,) = await views(declared, [job])
    if view.status.phase != Phase.QUEUED:
        raise NotCancellable(view.status.value)
    engine = job_engine()
    if not await blocking(
        mark_cancelled, engine, job.id, "cancelled by the client", only_if_queued=True
    ):
        (current,) = await views(declared, [await blocking(get_job, engine, job.id)])
        raise NotCancellable(current.status.value)
    _emit_later(ExportEvent.CANCELLED, job.id)
    if job.flow_run_id:
        # If Prefect is unreachable the row still says cancelled, and the flow run
        # refuses to work on a cancelled job when it starts.
        try:
            await cancel(job.flow_run_id)
        except LaunchError as exc:
            logger.warning("job %s cancelled; its flow run could not be told: %s", job.id, exc)
    await blocking(webhooks.announce, engine)  # export.cancelled goes out now
    (done,) = await views(declared, [await blocking(get_job, engine, job.id)])
    return done
