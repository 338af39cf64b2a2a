"""reconcile: bring job rows and flow runs back in step after processes die.

One pass, run every ``reconcile_seconds`` by the ``reconcile-exports`` flow:

1. queued jobs whose launch nobody delivered (an API process died between its insert
   and the launch) are launched, once, by their idempotency key;
2. unfinished jobs whose flow run is gone (a fresh Prefect database) are launched again
   if they never started, failed if they had;
3. unfinished jobs whose flow run is finished (failed, crashed, cancelled, or completed
   without recording its file) get the state the run says;
4. running jobs whose heartbeat stopped are failed as crashed, and Prefect is told;
5. CLI jobs that never started are failed;
6. files published for jobs that then failed are deleted;
7. accounts' schedules are put back in step in Prefect (``submission.schedules``).

Every change goes through the job store's guarded transitions, so a pass that races a
hook or a finishing run can never move a finished job back.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from anyio import to_thread
from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import Engine, update

from jobstore.models import ExportJob, JobState
from jobstore.outbox import (
    files_of_unsuccessful_jobs,
    local_jobs_never_started,
    silent_running_jobs,
    unfinished_with_runs,
)
from jobstore.store import get_job, job_engine
from report_exports.settings import Settings, get_settings
from storage.files import Storage, default_storage
from submission.delivery import OUTBOX_GRACE, deliver_pending
from submission.launcher import LaunchError, mark_run_crashed, read_run_states
from submission.lifecycle import RUN_ENDED, discard_file, fail_job, settle_with_run
from submission.schedules import sync_schedules
from submission.status import RUN_CRASHED, RunState

logger = logging.getLogger(__name__)

NOT_STARTED = "The export was never started; please try again"


@dataclass
class ReconcileReport:
    """Job ids each step of one pass acted on."""

    launched: list[int] = field(default_factory=list)
    relaunched: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)
    crashed_silent: list[int] = field(default_factory=list)
    files_deleted: list[int] = field(default_factory=list)
    schedules_synced: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[Any]]:
        """For the flow's return value and logs."""
        return asdict(self)


def _forget_lost_run(engine: Engine, job_id: int) -> bool:
    """A queued job whose run no longer exists goes back to the outbox."""
    stmt = (
        update(ExportJob)
        .where(ExportJob.id == job_id, ExportJob.state == JobState.QUEUED)
        .values(flow_run_id=None, launch_claimed_until=None)
    )
    with engine.begin() as conn:
        return conn.execute(stmt).rowcount == 1


def _settle(
    engine: Engine, storage: Storage, job: ExportJob, run: RunState | None, report: ReconcileReport
) -> None:
    """One unfinished job against its run (re-read: the pass must not act on old news)."""
    current = get_job(engine, job.id)
    if current.is_terminal or current.flow_run_id != job.flow_run_id:
        return
    if run is None:
        if current.state == JobState.QUEUED and _forget_lost_run(engine, job.id):
            report.relaunched.append(job.id)
        elif fail_job(engine, storage, job.id, RUN_CRASHED, "its flow run no longer exists"):
            report.failed.append(job.id)
        return
    done = settle_with_run(engine, storage, job.id, job.flow_run_id or "", run)
    if done == "cancelled":
        report.cancelled.append(job.id)
    elif done == "failed":
        report.failed.append(job.id)


async def reconcile(settings: Settings, now: datetime | None = None) -> ReconcileReport:
    """One pass over every job that is not finished (see the module docstring)."""
    now = now or datetime.now(UTC)
    engine, storage = job_engine(), default_storage()
    report = ReconcileReport()

    delivered = await deliver_pending(older_than=OUTBOX_GRACE, limit=200)
    report.launched += delivered.launched
    report.failed += delivered.failed

    jobs = await to_thread.run_sync(unfinished_with_runs, engine)
    try:
        runs = await read_run_states(j.flow_run_id or "" for j in jobs)
    except LaunchError as exc:  # Prefect away: nothing to compare with this time
        logger.warning("reconcile: flow runs unreadable, skipping that step: %s", exc)
        jobs, runs = [], {}
    for job in jobs:
        run = runs.get(job.flow_run_id or "")
        if run is None or run.type in RUN_ENDED:
            await to_thread.run_sync(_settle, engine, storage, job, run, report)

    stale = now - timedelta(seconds=settings.job_stale_after_seconds)
    for job in await to_thread.run_sync(silent_running_jobs, engine, stale):
        detail = f"no heartbeat since {job.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC"
        if await to_thread.run_sync(fail_job, engine, storage, job.id, RUN_CRASHED, detail):
            report.crashed_silent.append(job.id)
            if job.flow_run_id:
                try:
                    await mark_run_crashed(job.flow_run_id, f"export job {job.id}: {detail}")
                except LaunchError as exc:
                    logger.warning("job %s: run not marked crashed: %s", job.id, exc)

    never = now - timedelta(seconds=settings.local_start_grace_seconds)
    for job in await to_thread.run_sync(local_jobs_never_started, engine, never):
        if await to_thread.run_sync(fail_job, engine, storage, job.id, NOT_STARTED, None):
            report.failed.append(job.id)

    for job in await to_thread.run_sync(files_of_unsuccessful_jobs, engine):
        if await to_thread.run_sync(discard_file, engine, storage, job.id):
            report.files_deleted.append(job.id)

    try:
        synced = await sync_schedules(now)
        report.schedules_synced += [*synced.created, *synced.updated, *synced.deleted]
    except LaunchError as exc:
        logger.warning("reconcile: schedules not synced: %s", exc)
    return report


@task(name="reconcile jobs and runs", cache_policy=NO_CACHE)
def reconcile_jobs(now_iso: str | None = None) -> dict[str, Any]:
    """One reconcile pass; returns what it did."""
    now = datetime.fromisoformat(now_iso) if now_iso else None
    report = asyncio.run(reconcile(get_settings(), now))
    done = {k: v for k, v in report.as_dict().items() if v}
    if done:
        logger.info("reconciled: %s", done)
    return report.as_dict()
