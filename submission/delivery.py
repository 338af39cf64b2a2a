"""Delivering the launch outbox: queued jobs without a flow run get one.

Who delivers: the API process in the background (:class:`Delivery`, woken by every
create), the recurring flow inline, and the reconciler for whatever the others left (an
API that died between its insert and the launch). They share one routine,
:func:`deliver_claimed`: lease, create the run with the job's idempotency key, record it.
A launch that fails is tried again with backoff; after ``launch_min_attempts`` attempts
and ``launch_deadline_seconds`` since the create, the job fails with a message a client
can read, and its dedupe key is released.

Backpressure: at most ``launches_in_flight`` jobs are launched and unfinished at once; the
rest wait queued in the outbox (a burst of creates does not become a burst of flow runs
whose state writes lock the embedded Prefect server's SQLite). A job waiting there has
made no attempt, so waiting never counts towards giving up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial

from anyio import to_thread

from jobstore.models import ExportJob, JobState
from jobstore.outbox import claim_launches, record_launch, retry_launch_at
from jobstore.store import get_job, job_engine
from jobstore.transitions import mark_failed
from report_exports import failpoints
from report_exports.settings import get_settings
from submission.launcher import LaunchError, cancel, close_client, launch
from submission.nudge import nudge_runner

logger = logging.getLogger(__name__)

COULD_NOT_START = "The export could not be started; please try again"
PARALLEL_LAUNCHES = 4
IDLE_SECONDS = 1.0
OUTBOX_GRACE = timedelta(seconds=5)
"""Young outbox entries are left to the process that made them (which was woken)."""


@dataclass
class DeliveryReport:
    """What one delivery pass did, by job id."""

    launched: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(30.0, 0.5 * 2 ** max(attempts - 1, 0)))


async def _launch_one(job: ExportJob, report: DeliveryReport) -> None:
    engine, settings = job_engine(), get_settings()
    await failpoints.hold_async("before-launch")
    try:
        flow_run_id = await launch(job)
    except LaunchError as exc:
        age = datetime.now(UTC) - job.created_at
        patient = job.launch_attempts < settings.launch_min_attempts
        if not patient and age.total_seconds() >= settings.launch_deadline_seconds:
            logger.error("job %s: giving up launching after %s: %s", job.id, age, exc)
            await to_thread.run_sync(
                partial(mark_failed, engine, job.id, COULD_NOT_START, str(exc))
            )
            report.failed.append(job.id)
        else:
            logger.warning("job %s: launch failed, retrying: %s", job.id, exc)
            when = datetime.now(UTC) + _backoff(job.launch_attempts)
            await to_thread.run_sync(retry_launch_at, engine, job.id, when)
            report.retrying.append(job.id)
        return
    await to_thread.run_sync(record_launch, engine, job.id, flow_run_id)
    nudge_runner()
    report.launched.append(job.id)
    current = await to_thread.run_sync(get_job, engine, job.id)
    if current.state == JobState.CANCELLED:  # cancelled while its run was being made
        with contextlib.suppress(LaunchError):
            await cancel(flow_run_id)


async def deliver_claimed(jobs: list[ExportJob]) -> DeliveryReport:
    """Launch jobs this process has claimed, a few at a time."""
    report = DeliveryReport()
    gate = asyncio.Semaphore(PARALLEL_LAUNCHES)

    async def one(job: ExportJob) -> None:
        async with gate:
            await _launch_one(job, report)

    await asyncio.gather(*(one(job) for job in jobs))
    return report


async def deliver_pending(
    *, older_than: timedelta = timedelta(0), limit: int = 50
) -> DeliveryReport:
    """Claim and launch what waits in the outbox (``older_than``: leave young jobs be)."""
    settings = get_settings()
    lease = timedelta(seconds=settings.launch_lease_seconds)
    claimed = await to_thread.run_sync(
        partial(
            claim_launches,
            job_engine(),
            lease=lease,
            limit=limit,
            older_than=older_than,
            in_flight_limit=settings.launches_in_flight,
        )
    )
    return await deliver_claimed(claimed) if claimed else DeliveryReport()


async def deliver_job(job_id: int) -> bool:
    """Launch one job now if it still waits (the recurring flow); True when it launched."""
    report = await deliver_pending(limit=50)
    return job_id in report.launched


class Delivery:
    """The API process's background delivery: woken by every create, and idle-polling."""

    def __init__(self) -> None:
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin delivering on the running event loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="delivery")

    def wake(self) -> None:
        """Something was written to the outbox."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop delivering; undelivered jobs stay in the outbox for the next launcher."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await close_client()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            woken = False
            with contextlib.suppress(TimeoutError):
                woken = await asyncio.wait_for(self._wake.wait(), IDLE_SECONDS)
            self._wake.clear()
            # Woken: this process wrote the job, launch it now. Idle: only what another
            # process left behind for longer than the grace (its own launcher has it).
            older_than = timedelta(0) if woken else OUTBOX_GRACE
            try:
                while True:
                    report = await deliver_pending(older_than=older_than)
                    if report.retrying:
                        loop.call_later(_backoff(1).total_seconds(), self.wake)
                    if not report.launched:
                        break  # more may have arrived meanwhile: go again while launching
            except Exception:  # the job store down: keep the loop, try again soon
                logger.exception("launch delivery failed; trying again")
                await asyncio.sleep(IDLE_SECONDS)


_current: Delivery | None = None


def install(delivery: Delivery | None) -> None:
    """Make ``delivery`` the one :func:`wake` reaches in this process (None: no loop)."""
    global _current
    _current = delivery


def wake() -> None:
    """Tell this process's delivery loop, if it has one, that a job waits."""
    if _current is not None:
        _current.wake()
