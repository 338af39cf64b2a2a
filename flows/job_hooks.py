"""State hooks: a flow run that fails, crashes or is cancelled says so on its job row."""

from __future__ import annotations

from typing import Any

from prefect import Flow
from prefect.client.schemas.objects import FlowRun
from prefect.states import State

from jobstore.store import job_engine, mark_cancelled, mark_failed
from storage.files import default_storage, staging_prefix


def _job_id(flow_run: FlowRun) -> int | None:
    value = (flow_run.parameters or {}).get("job_id")
    return int(value) if value is not None else None


def _cleanup(job_id: int) -> None:
    default_storage().delete_prefix(staging_prefix(job_id))


def _reason(state: State[Any], fallback: str) -> str:
    message = (state.message or "").strip()
    try:
        state.result(raise_on_failure=True)
    except BaseException as exc:  # the run's own exception says most
        return f"{type(exc).__name__}: {exc}" if str(exc) else message or fallback
    return message or fallback


def job_failed(_flow: Flow[Any, Any], flow_run: FlowRun, state: State[Any]) -> None:
    """on_failure: record the error message.

    Staged parts stay so that a retry of this flow run (from the UI) only extracts what is
    missing; the retention flow removes them if nobody retries.
    """
    job_id = _job_id(flow_run)
    if job_id is not None:
        mark_failed(job_engine(), job_id, _reason(state, "export failed"))


def job_crashed(_flow: Flow[Any, Any], flow_run: FlowRun, state: State[Any]) -> None:
    """on_crashed: the run died (process killed, infrastructure lost)."""
    job_id = _job_id(flow_run)
    if job_id is not None:
        mark_failed(job_engine(), job_id, f"run crashed: {state.message or 'no reason given'}")


def job_cancelled(_flow: Flow[Any, Any], flow_run: FlowRun, state: State[Any]) -> None:
    """on_cancellation: the job is cancelled and nothing of it is kept."""
    job_id = _job_id(flow_run)
    if job_id is not None:
        mark_cancelled(job_engine(), job_id)
        _cleanup(job_id)
