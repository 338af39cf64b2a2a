"""Jobs an operator makes from the command line, past the plan gate.

Two ways, chosen by the CLI: :func:`create_local_job`, a job that the calling process runs
itself as a flow run of its own; or :func:`submit_to_stack`, a job for the running stack's
served ``export-report`` deployment, launched from here over Prefect's REST API, so that a
command that only waits for the job never imports Prefect (a second of a process's life).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from catalog.registry import ExportRequest
from jobstore.models import ExportJob, LaunchMode, utcnow
from jobstore.outbox import claim_launch, record_launch, retry_launch_at
from jobstore.store import create_job, get_job, job_engine
from submission.events import ExportEvent, emit_export_event
from submission.launcher import LaunchError
from submission.nudge import nudge_runner
from submission.prefect_rest import launch_over_http

logger = logging.getLogger(__name__)

LAUNCH_LEASE = timedelta(seconds=30)


def _create(
    request: ExportRequest, account_id: int, requested_by: str, mode: LaunchMode
) -> ExportJob:
    return create_job(
        job_engine(),
        surface=request.report.surface,
        account_id=account_id,
        report_type=request.report.name,
        fmt=request.format,
        params=request.params_json(),
        requested_by=requested_by,
        launch_mode=mode,
    )


def create_local_job(request: ExportRequest, account_id: int, requested_by: str) -> ExportJob:
    """A job that the calling process runs itself: no launch, no plan gate.

    The reconciler fails one that its process never started (``local_start_grace_seconds``).
    """
    job = _create(request, account_id, requested_by, LaunchMode.LOCAL)
    emit_export_event(job_engine(), ExportEvent.CREATED, job)
    return job


def submit_to_stack(
    request: ExportRequest,
    account_id: int,
    requested_by: str,
    prefect_api_url: str,
    deployment_id: str,
) -> ExportJob:
    """A job for the served deployment, launched now; the job row as it stands after.

    The row is written first and is its own outbox entry, as the API's are: a launch that
    fails here (or a process that dies before it) is left to the stack's API delivery and
    the reconciler. Its ``created`` event is not emitted (that would import Prefect); the
    run's own events (running, succeeded or failed) are.
    """
    engine = job_engine()
    job = _create(request, account_id, requested_by, LaunchMode.DEPLOYMENT)
    claimed = claim_launch(engine, job.id, lease=LAUNCH_LEASE)
    if claimed is None:  # another launcher took it already
        return get_job(engine, job.id)
    try:
        flow_run_id = launch_over_http(claimed, prefect_api_url, deployment_id)
    except LaunchError as exc:
        logger.warning("job %s: launch failed, left to the stack: %s", job.id, exc)
        retry_launch_at(engine, job.id, utcnow())
        return get_job(engine, job.id)
    record_launch(engine, job.id, flow_run_id)
    nudge_runner()
    return get_job(engine, job.id)
