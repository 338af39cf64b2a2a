"""Launching, cancelling and reading flow runs. The API never runs pipeline code itself."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from api_shim.status import RunState
from jobstore.models import ExportJob

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
        flow_run = await run_deployment(  # type: ignore[misc]
            EXPORT_DEPLOYMENT,
            parameters={"job_id": job.id},
            timeout=0,
            tags=run_tags(job),
            flow_run_name=f"export job {job.id}",
        )
    except Exception as exc:  # connection refused, deployment missing, server error
        raise LaunchError(f"could not launch the export: {type(exc).__name__}: {exc}") from exc
    return str(flow_run.id)


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
