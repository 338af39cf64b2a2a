"""Ending a job whose run did not finish it: failed or cancelled, and nothing left behind.

The hooks of the export flow and the reconciler both end jobs here. A job that ends
without succeeding loses its published file (if its run got as far as publishing) and,
when it can never run again (cancelled), its staged parts too; a failed job keeps its
parts a while so that a retry of its flow run only extracts what is missing (retention
drops them later).
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine

from jobstore.models import JobState
from jobstore.store import get_job
from jobstore.transitions import forget_file, mark_cancelled, mark_failed
from report_exports.errors import StorageError
from storage.files import Storage, staging_prefix
from submission.events import ExportEvent, emit_export_event
from submission.status import (
    CANCELLED,
    CANCELLING,
    COMPLETED,
    CRASHED,
    FAILED,
    RUN_CRASHED,
    RUN_FAILED,
    RunState,
)

logger = logging.getLogger(__name__)

NEVER_RECORDED = "The export finished without recording its file"
RUN_ENDED = frozenset({COMPLETED, FAILED, CRASHED, CANCELLED, CANCELLING})
"""Run states after which the run will not move its job any more (unless retried)."""


def settle_with_run(
    engine: Engine, storage: Storage, job_id: int, flow_run_id: str, run: RunState
) -> str | None:
    """End an unfinished job as its ended flow run says; what was done, or None.

    The job row is read again first: a run that ended after recording its job (or a hook
    that got there first) leaves nothing to do. Used by the reconciler for every job, and
    by reads, so that what a client is told and what the row says never disagree.
    """
    current = get_job(engine, job_id)
    if current.is_terminal or current.flow_run_id != flow_run_id:
        return None
    if run.type in (CANCELLED, CANCELLING):
        return "cancelled" if cancel_job(engine, storage, job_id) else None
    ended = {
        CRASHED: (RUN_CRASHED, f"run crashed: {run.message or 'no reason given'}"),
        FAILED: (RUN_FAILED, run.message or "run failed"),
        COMPLETED: (NEVER_RECORDED, "run completed, job not recorded"),
    }
    if run.type in ended and fail_job(engine, storage, job_id, *ended[run.type]):
        return "failed"
    return None


def fail_job(
    engine: Engine, storage: Storage, job_id: int, message: str, detail: str | None = None
) -> bool:
    """Fail an unfinished job (``message`` for clients, ``detail`` for operators)."""
    failed = mark_failed(engine, job_id, message, detail)
    discard_file(engine, storage, job_id)
    if failed:
        emit_export_event(engine, ExportEvent.FAILED, job_id, error=message)
    return failed


def cancel_job(engine: Engine, storage: Storage, job_id: int, message: str = "cancelled") -> bool:
    """Cancel an unfinished job and delete everything it made."""
    cancelled = mark_cancelled(engine, job_id, message)
    discard_file(engine, storage, job_id)
    if cancelled:
        emit_export_event(engine, ExportEvent.CANCELLED, job_id)
    if get_job(engine, job_id).state == JobState.CANCELLED:
        try:
            storage.delete_prefix(staging_prefix(job_id))
        except StorageError as exc:  # retention drops it later
            logger.warning("job %s: staging not deleted yet: %s", job_id, exc)
    return cancelled


def discard_file(engine: Engine, storage: Storage, job_id: int) -> bool:
    """Delete the file a job that did not succeed may have published; True when one went."""
    job = get_job(engine, job_id)
    if job.state in (JobState.SUCCEEDED, JobState.EXPIRED) or job.storage_key is None:
        return False
    if not job.is_terminal:
        return False  # still running: its own record step decides
    try:
        storage.delete(job.storage_key)
    except StorageError as exc:  # the reconciler tries again on its next pass
        logger.warning("job %s: file %s not deleted yet: %s", job_id, job.storage_key, exc)
        return False
    forget_file(engine, job_id)
    return True
