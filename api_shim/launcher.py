"""Launching, cancelling and reading flow runs. The API never runs pipeline code itself."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from api_shim.status import RunState
from deployments.work_pool import account_queue
from jobstore.models import ExportJob
from report_exports.settings import get_settings

EXPORT_DEPLOYMENT = "export-report/export-report"


class LaunchError(Exception):
    """The Prefect server could not be reached or refused the run."""


def run_tags(job: ExportJob) -> list[str]:
    """Tags of an export's flow run: account, report type and format."""
    return [
        f"account:{job.account_id}",
        f"report:{job.report_type}",
        f"format:{job.format}",
        f"surface:{job.surface}",
    ]


async def launch(job: ExportJob) -> str:
    """Create the flow run of a job on the export-report deployment; return its id."""
    from prefect.deployments import run_deployment

    try:
        queue = await _account_queue(job.account_id)
        flow_run = await run_deployment(  # type: ignore[misc]
            EXPORT_DEPLOYMENT,
            parameters={"job_id": job.id},
            timeout=0,
            tags=run_tags(job),
            flow_run_name=f"export job {job.id}",
            work_queue_name=queue,
        )
    except Exception as exc:  # connection refused, deployment missing, server error
        raise LaunchError(f"could not launch the export: {type(exc).__name__}: {exc}") from exc
    return str(flow_run.id)


async def _account_queue(account_id: int) -> str | None:
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
    pool = await _deployment_pool()
    if pool is None or limit == 0:
        return None
    name = account_queue(account_id)
    if (pool, name) not in _ready_queues:
        await _ensure_queue(pool, name, limit)
        _ready_queues.add((pool, name))
    return name


_ready_queues: set[tuple[str, str]] = set()
_pools: dict[str, str | None] = {}


async def _deployment_pool() -> str | None:
    from prefect.client.orchestration import get_client

    if EXPORT_DEPLOYMENT not in _pools:
        async with get_client() as client:
            deployment = await client.read_deployment_by_name(EXPORT_DEPLOYMENT)
        _pools[EXPORT_DEPLOYMENT] = deployment.work_pool_name
    return _pools[EXPORT_DEPLOYMENT]


async def _ensure_queue(pool: str, name: str, limit: int) -> None:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    async with get_client() as client:
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


async def cancel(flow_run_id: str) -> None:
    """Cancel a flow run that has not started (a scheduled run becomes Cancelled)."""
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelled

    try:
        async with get_client() as client:
            await client.set_flow_run_state(
                uuid.UUID(flow_run_id), Cancelled(message="cancelled by the client"), force=True
            )
    except Exception as exc:
        raise LaunchError(f"could not cancel the run: {exc}") from exc


async def read_run_states(flow_run_ids: Iterable[str]) -> dict[str, RunState]:
    """States of many flow runs in one call (missing runs are simply absent)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import FlowRunSort

    ids = sorted({i for i in flow_run_ids if i})
    if not ids:
        return {}
    try:
        async with get_client() as client:
            runs = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[uuid.UUID(i) for i in ids])),
                limit=min(len(ids), 200),
                sort=FlowRunSort.ID_DESC,
            )
    except Exception as exc:
        raise LaunchError(f"could not read flow runs: {exc}") from exc
    return {
        str(r.id): RunState(
            type=r.state.type.value, name=r.state.name or "", message=r.state.message or ""
        )
        for r in runs
        if r.state is not None
    }
