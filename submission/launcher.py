"""Creating, cancelling and reading flow runs. Nothing here runs pipeline code.

Every Prefect call here turns off the client's own retries (2 s and longer backoffs on a
503 from a busy SQLite server) and retries briefly itself: callers are a background
delivery loop and the reconciler, which try again later anyway, and a request that reads
run states should not stall for seconds. Failures leave as :class:`LaunchError`, whose
text is for logs only.

Each event loop keeps one open client: opening one makes an httpx client and an SSL
context, and overriding a setting copies all of Prefect's settings, both about 20 ms of
CPU alone and far more under load; per call, a burst of 200 launches spent most of the
API process's CPU there and its creates waited on it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
import weakref
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from jobstore.models import ExportJob
from report_exports.settings import get_settings
from submission.status import RunState

EXPORT_DEPLOYMENT = "export-report/export-report"
ATTEMPTS = 4
FIRST_BACKOFF_SECONDS = 0.05

T = TypeVar("T")
logger = logging.getLogger(__name__)


class LaunchError(Exception):
    """The Prefect server could not be reached or refused the call (text for logs only)."""


def account_queue(account_id: int) -> str:
    """The work queue, and the global concurrency limit, of an account's exports."""
    return f"account-{account_id}"


def run_tags(job: ExportJob) -> list[str]:
    """Tags of an export's flow run: account, report type, format and surface."""
    return [
        f"account:{job.account_id}",
        f"report:{job.report_type}",
        f"format:{job.format}",
        f"surface:{job.surface}",
    ]


def idempotency_key(job: ExportJob) -> str:
    """One flow run per job, however many launchers race: Prefect returns the first."""
    return f"export-job-{job.public_id}"


_no_retry: list[tuple[Any, Any]] = []
"""(Prefect's current settings, the same with client retries off): made once, not per call."""


@contextmanager
def _without_client_retries() -> Iterator[None]:
    import prefect.context

    context = prefect.context.get_settings_context()
    if not _no_retry or _no_retry[0][0] is not context.settings:
        updates: dict[Any, Any] = {"client.max_retries": 0}
        _no_retry[:] = [(context.settings, context.settings.copy_with_update(updates=updates))]
    with prefect.context.SettingsContext(profile=context.profile, settings=_no_retry[0][1]):
        yield


_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()
_opening: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


async def _client() -> Any:
    """This event loop's open Prefect client (opened on first use, kept for the loop)."""
    from prefect.client.orchestration import get_client

    loop = asyncio.get_running_loop()
    if (client := _clients.get(loop)) is not None:
        return client
    async with _opening.setdefault(loop, asyncio.Lock()):
        if (client := _clients.get(loop)) is None:
            client = get_client()
            await client.__aenter__()
            _clients[loop] = client
    return client


async def close_client() -> None:
    """Close this event loop's client (a process's delivery stopping)."""
    client = _clients.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.__aexit__(None, None, None)


async def call_prefect(
    action: Callable[[Any], Awaitable[T]], doing: str, *, attempts: int = ATTEMPTS
) -> T:
    """``action(client)`` with brief retries of our own and none of the client's.

    Waits grow fourfold from 50 ms, never past 2 s: the default four attempts give up
    after about a second; a caller that a person waits on with nothing to fall back on
    (a schedule change) asks for more, riding out a SQLite server's lock (503s for ~2 s).
    """
    from prefect.exceptions import ObjectNotFound

    delay = FIRST_BACKOFF_SECONDS
    for attempt in range(attempts):
        try:
            with _without_client_retries():
                client = await _client()
                return await action(client)
        except ObjectNotFound:
            raise
        except Exception as exc:  # refused connection, 5xx, timeout: all worth a retry
            if attempt == attempts - 1:
                raise LaunchError(f"{doing}: {type(exc).__name__}: {exc}") from exc
            await asyncio.sleep(delay * (1 + random.random()))
            delay = min(delay * 4, 2.0)
    raise AssertionError("unreachable")


_deployments: dict[str, tuple[uuid.UUID, str | None]] = {}


async def _deployment(refresh: bool = False) -> tuple[uuid.UUID, str | None]:
    """The export-report deployment's id and work pool (cached; ``refresh`` reads again)."""
    if refresh or EXPORT_DEPLOYMENT not in _deployments:

        async def read(client: Any) -> Any:
            return await client.read_deployment_by_name(EXPORT_DEPLOYMENT)

        deployment = await call_prefect(read, "could not read the export deployment")
        _deployments[EXPORT_DEPLOYMENT] = (deployment.id, deployment.work_pool_name)
    return _deployments[EXPORT_DEPLOYMENT]


async def launch(job: ExportJob) -> str:
    """Create the job's flow run on the export-report deployment (idempotent); its id."""
    from prefect.exceptions import ObjectNotFound

    for refresh in (False, True):  # a redeployed (or wiped) server has a new deployment id
        try:
            deployment_id, pool = await _deployment(refresh)
            queue = await _account_queue(pool, job.account_id)

            async def create(
                client: Any, deployment_id: uuid.UUID = deployment_id, queue: str | None = queue
            ) -> Any:
                return await client.create_flow_run_from_deployment(
                    deployment_id,
                    parameters={"job_id": job.id},
                    name=f"export job {job.id}",
                    tags=run_tags(job),
                    idempotency_key=idempotency_key(job),
                    work_queue_name=queue,
                )

            flow_run = await call_prefect(create, f"could not launch export job {job.id}")
            return str(flow_run.id)
        except ObjectNotFound as exc:
            if refresh:
                raise LaunchError(f"export deployment missing: {exc}") from exc
    raise AssertionError("unreachable")


_ready_queues: set[tuple[str, str]] = set()


async def _account_queue(pool: str | None, account_id: int) -> str | None:
    """On a work pool, the account's queue (made on first use with the account limit).

    Two limits of the same size, made on first use: the account's work queue, which
    workers take runs from only while it is under its limit (so one account's burst waits
    in its queue while other accounts' runs go ahead), and the global concurrency limit
    ``account-N`` that the flow holds while it works (the queue check is made when a
    worker polls, so two workers polling at once can both take the last slot; the global
    limit is exact). Served deployments (``report-exports up``) have no work pool: no
    queue, no limit, and ``serve_limit`` caps all runs.
    """
    limit = get_settings().account_concurrency
    if pool is None or limit == 0:
        return None
    name = account_queue(account_id)
    if (pool, name) not in _ready_queues:
        await call_prefect(lambda client: _ensure_queue(client, pool, name, limit), "queue set-up")
        _ready_queues.add((pool, name))
    return name


async def _ensure_queue(client: Any, pool: str, name: str, limit: int) -> None:
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    await client.upsert_global_concurrency_limit_by_name(name, limit)
    try:
        queue = await client.read_work_queue_by_name(name, work_pool_name=pool)
    except ObjectNotFound:
        try:
            await client.create_work_queue(name, work_pool_name=pool, concurrency_limit=limit)
            return
        except ObjectAlreadyExists:  # another API process made it first
            queue = await client.read_work_queue_by_name(name, work_pool_name=pool)
    if queue.concurrency_limit != limit:
        await client.update_work_queue(queue.id, concurrency_limit=limit)


async def cancel(flow_run_id: str, message: str = "cancelled by the client") -> None:
    """Cancel a flow run (a scheduled run becomes Cancelled; a running one Cancelling)."""
    from prefect.states import Cancelled

    async def set_state(client: Any) -> None:
        await client.set_flow_run_state(
            uuid.UUID(flow_run_id), Cancelled(message=message), force=True
        )

    await call_prefect(set_state, "could not cancel the run")


async def mark_run_crashed(flow_run_id: str, message: str) -> None:
    """Tell Prefect a run is dead (its job's heartbeat stopped), so both agree."""
    from prefect.states import Crashed

    async def set_state(client: Any) -> None:
        await client.set_flow_run_state(
            uuid.UUID(flow_run_id), Crashed(message=message), force=True
        )

    await call_prefect(set_state, "could not mark the run crashed")


async def read_run_states(flow_run_ids: Iterable[str]) -> dict[str, RunState]:
    """States of many flow runs in one call (missing runs are simply absent)."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import FlowRunSort

    ids = sorted({i for i in flow_run_ids if i})
    if not ids:
        return {}
    found: dict[str, RunState] = {}
    for start in range(0, len(ids), 200):  # the server's page limit
        batch = [uuid.UUID(i) for i in ids[start : start + 200]]

        async def read(client: Any, batch: list[uuid.UUID] = batch) -> Any:
            return await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=batch)),
                limit=len(batch),
                sort=FlowRunSort.ID_DESC,
            )

        for run in await call_prefect(read, "could not read flow runs"):
            if run.state is not None:
                found[str(run.id)] = RunState(
                    type=run.state.type.value,
                    name=run.state.name or "",
                    message=run.state.message or "",
                )
    return found


WEBHOOK_DEPLOYMENT = "deliver-webhooks/deliver-webhooks"


def schedule_webhook_delivery(key: str, at: datetime | None = None) -> bool:
    """A run of ``deliver-webhooks`` at ``at`` (now), once per ``key``; False if Prefect refused.

    Called where jobs end (the export flow, its hooks, the reconciler, cleanup, the API's
    cancel) so a healthy receiver hears within seconds, and by the delivery flow itself
    for the next retry that is due. The idempotency key makes racing callers one run.
    Anything missed is found by the flow's own schedule (``webhook_sweep_seconds``).
    """
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, temporary_settings
    from prefect.states import Scheduled

    due = at or datetime.now(UTC)
    try:
        # Two retries ride out a busy SQLite server's 503 (0.1 s, then 0.4 s: the server's
        # Retry-After); a process with no server is refused at once (never retried).
        with (
            temporary_settings({PREFECT_CLIENT_MAX_RETRIES: 2}),
            get_client(sync_client=True) as client,
        ):
            deployment = client.read_deployment_by_name(WEBHOOK_DEPLOYMENT)
            client.create_flow_run_from_deployment(
                deployment.id,
                parameters={"due_at": due.isoformat()},
                state=Scheduled(scheduled_time=due),
                idempotency_key=f"deliver-webhooks-{key}",
                tags=["report-exports", "webhooks"],
            )
        return True
    except Exception as exc:  # no server, no deployment (CLI runs): the sweep delivers
        logger.info("deliver-webhooks not scheduled (%s): %s", key, type(exc).__name__)
        return False
