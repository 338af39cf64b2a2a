"""State hooks: a flow run that fails, crashes or is cancelled says so on its job row.

Prefect 3.8 calls hooks by keyword (``hook(flow=..., flow_run=..., state=...)``): the
parameter names are part of the contract (a differently named one raises TypeError in the
runner's log and the hook does nothing). A killed flow-run process runs no hook itself:
its runner (``report-exports up``) or worker runs ``on_crashed`` when the process exits,
and the reconciler covers the case where nobody did. Each hook that ends a job has its
webhooks delivered at once (``submission.webhooks.announce``).
"""

from __future__ import annotations

import logging
from typing import Any

from prefect import Flow
from prefect.client.schemas.objects import FlowRun
from prefect.logging.loggers import flow_run_logger
from prefect.states import State

from jobstore.store import job_engine
from report_exports.errors import public_message
from storage.files import default_storage
from submission.lifecycle import cancel_job, fail_job
from submission.status import RUN_CRASHED
from submission.webhooks import announce
from tasks.run_log import failure_line

logger = logging.getLogger(__name__)


def _job_id(flow_run: FlowRun) -> int | None:
    value = (flow_run.parameters or {}).get("job_id")
    return int(value) if value is not None else None


def _exception(state: State[Any]) -> BaseException | None:
    try:
        state.result(raise_on_failure=True)
    except BaseException as exc:  # the run's own exception
        return exc
    return None


def _detail(state: State[Any], exc: BaseException | None) -> str:
    if exc is not None and str(exc):
        return f"{type(exc).__name__}: {exc}"
    return (state.message or "").strip() or "no reason given"


def job_failed(flow: Flow[Any, Any], flow_run: FlowRun, state: State[Any]) -> None:
    """on_failure: record why, for clients (classified) and operators (the exception).

    Staged parts stay so that a retry of this flow run (from the UI) only extracts what is
    missing; the retention flow removes them if nobody retries.
    """
    job_id = _job_id(flow_run)
    if job_id is None:
        return
    exc = _exception(state)
    if exc is not None:  # in the run's Logs tab: what failed, and what happens next
        flow_run_logger(flow_run, flow).error(
            "%s; the job is failed (Retry re-runs only the missing chunks)",
            failure_line(f"export job {job_id}", exc, 0),
        )
    fail_job(job_engine(), default_storage(), job_id, public_message(exc), _detail(state, exc))
    announce(job_engine())


def job_crashed(flow: Flow[Any, Any], flow_run: FlowRun, state: State[Any]) -> None:
    """on_crashed: the run died (process killed, infrastructure lost)."""
    job_id = _job_id(flow_run)
    if job_id is None:
        return
    detail = f"run crashed: {state.message or 'no reason given'}"
    logger.warning("export job %s: %s", job_id, detail)
    flow_run_logger(flow_run, flow).error("export job %s: %s; the job is failed", job_id, detail)
    fail_job(job_engine(), default_storage(), job_id, RUN_CRASHED, detail)
    announce(job_engine())


def job_cancelled(flow: Flow[Any, Any], flow_run: FlowRun, state: State[Any]) -> None:
    """on_cancellation: the job is cancelled and nothing of it is kept."""
    job_id = _job_id(flow_run)
    if job_id is not None:
        cancel_job(job_engine(), default_storage(), job_id)
        announce(job_engine())
