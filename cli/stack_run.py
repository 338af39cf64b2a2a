"""Handing one export to the running stack and waiting for its job (the CLI's fast path).

When a stack serves the ``export-report`` deployment on the same job store and storage as
this process (``report-exports up`` tags it with :attr:`Settings.store_tag`),
``report-exports export`` makes the job and launches it there over HTTP, then follows the
job row until it ends. The command imports neither Prefect nor the pipeline:
it costs what the export costs, not a second or two of imports and a flow run of its own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from catalog.registry import ExportRequest
from cli.local_run import ProgressCallback
from jobstore.models import ExportJob
from jobstore.store import get_job, init_store, job_engine
from report_exports.settings import Settings
from submission.operator_jobs import submit_to_stack
from submission.prefect_rest import served_export_deployment

READY_CHECK_SECONDS = 5.0


class StackGone(RuntimeError):
    """The stack stopped serving exports while this command waited for its job."""

    def __init__(self, job: ExportJob) -> None:
        super().__init__(f"export job {job.id} is {job.state}")
        self.job = job


@dataclass(frozen=True)
class ServingStack:
    """A stack serving exports on this process's job store: its API and deployment."""

    api_url: str
    deployment_id: str


def serving_stack(settings: Settings) -> ServingStack | None:
    """The stack that serves exports on this process's job store and storage now, or None
    (the export runs here)."""
    api_url = settings.prefect_api_url or f"http://127.0.0.1:{settings.prefect_port}/api"
    deployment = served_export_deployment(api_url, timeout=1.0)
    if deployment is None or settings.store_tag not in (deployment.get("tags") or []):
        return None
    return ServingStack(api_url, str(deployment["id"]))


def run_export_on_stack(
    request: ExportRequest,
    account_id: int,
    stack: ServingStack,
    *,
    on_progress: ProgressCallback | None = None,
    poll_seconds: float = 0.05,
) -> ExportJob:
    """Submit the export to the stack, then follow its job row to the end; the final row.

    Raises :class:`StackGone` when the deployment stops being served before the job ends
    (the job stays in the job store, and the stack takes it up again when it is back).
    """
    engine = job_engine()
    init_store(engine)
    job = submit_to_stack(request, account_id, "cli", stack.api_url, stack.deployment_id)
    checked = time.monotonic()
    while not job.is_terminal:
        time.sleep(poll_seconds)
        job = get_job(engine, job.id)
        if on_progress is not None:
            on_progress(job)
        if time.monotonic() - checked > READY_CHECK_SECONDS:
            checked = time.monotonic()
            if not job.is_terminal and served_export_deployment(stack.api_url) is None:
                raise StackGone(job)
    return job
