"""State changes of export jobs, each guarded by the states it may leave.

Every transition goes through :func:`_update` with ``from_states``, so a late writer (a
hook after the reconciler, a progress write after the record) can never move a finished
job back. Failed, cancelled and expired jobs give up their dedupe key: an identical
request then makes a new job. A transition to a terminal state writes the webhook
deliveries of its event in the same transaction (``jobstore.webhooks.enqueue_events``).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, or_, update

from jobstore.models import TERMINAL_STATES, ExportJob, JobState, Stage, utcnow
from jobstore.webhooks import enqueue_events

RUNNABLE = frozenset({JobState.QUEUED, JobState.RUNNING, JobState.FAILED})
UNFINISHED = frozenset({JobState.QUEUED, JobState.RUNNING})
CLIENT_MESSAGE_CHARS = 1000
DETAIL_CHARS = 4000


def _update(
    engine: Engine,
    job_id: int,
    *,
    from_states: Iterable[str] | None = None,
    where: Iterable[Any] = (),
    **values: Any,
) -> bool:
    """Apply ``values`` to the job if it is in one of ``from_states`` (default: unfinished)."""
    states = frozenset(from_states) if from_states is not None else UNFINISHED
    stmt = (
        update(ExportJob)
        .where(ExportJob.id == job_id, ExportJob.state.in_(states), *where)
        .values(updated_at=utcnow(), **values)
    )
    with engine.begin() as conn:
        changed = conn.execute(stmt).rowcount == 1
        new_state = values.get("state")
        if changed and new_state in TERMINAL_STATES:
            # The outbox of webhooks: the events commit with the state change, or not at all.
            enqueue_events(conn, job_id, new_state)
        return changed


def release_dedupe(engine: Engine, job_id: int) -> None:
    """This job no longer answers identical requests."""
    with engine.begin() as conn:
        conn.execute(update(ExportJob).where(ExportJob.id == job_id).values(dedupe_key=None))


def mark_running(
    engine: Engine,
    job_id: int,
    *,
    flow_run_id: str | None,
    parts_total: int,
    parts_done: int,
    rows_estimated: int | None = None,
    rows_reused: int = 0,
) -> bool:
    """The flow run has planned its chunks; ``parts_done`` counts parts kept from a retry.

    ``rows_estimated`` is the plan's estimate, ``rows_reused`` the rows of the kept parts:
    progress starts there, and the ETA measures this run's rate from ``started_at``.

    A failed job may run again (an operator retried its flow run); a cancelled one may not.
    A queued or running job belongs to the flow run recorded for it: another run of the
    same job (a stray duplicate) is refused.
    """
    owner: ColumnElement[bool] = ExportJob.flow_run_id.is_(None)
    if flow_run_id is not None:
        owner = or_(owner, ExportJob.flow_run_id == flow_run_id, ExportJob.state == JobState.FAILED)
    return _update(
        engine,
        job_id,
        from_states=RUNNABLE,
        where=(owner,),
        state=JobState.RUNNING,
        flow_run_id=flow_run_id,
        parts_total=parts_total,
        parts_done=parts_done,
        rows_done=rows_reused,
        rows_reused=rows_reused,
        rows_estimated=rows_estimated,
        stage=Stage.EXTRACTING,
        progress_at=utcnow(),
        started_at=utcnow(),
        heartbeat_at=utcnow(),
        runner=f"{socket.gethostname()}:{os.getpid()}",
        error_message=None,
        error_detail=None,
        completed_at=None,
        launch_claimed_until=None,
    )


def record_part_done(engine: Engine, job_id: int, rows: int = 0) -> None:
    """One more chunk is in staging (atomic increments, safe from concurrent tasks)."""
    _update(
        engine,
        job_id,
        from_states=(JobState.RUNNING,),
        parts_done=ExportJob.parts_done + 1,
        rows_done=ExportJob.rows_done + rows,
        progress_at=utcnow(),
        heartbeat_at=utcnow(),
    )


def mark_planning(engine: Engine, job_id: int) -> bool:
    """The job's flow run started planning (queued or running; a finished job is left)."""
    return _update(engine, job_id, stage=Stage.PLANNING, progress_at=utcnow())


def beat(engine: Engine, job_id: int) -> bool:
    """The job's flow run is alive (the reconciler fails running jobs whose beat stops)."""
    return _update(engine, job_id, from_states=(JobState.RUNNING,), heartbeat_at=utcnow())


def set_progress(engine: Engine, job_id: int, **values: Any) -> bool:
    """Progress of a running job (stage, rows); never touches a finished one."""
    return _update(engine, job_id, from_states=(JobState.RUNNING,), heartbeat_at=utcnow(), **values)


def set_pending_file(engine: Engine, job_id: int, storage_key: str) -> bool:
    """The key a running job is about to publish to, written before the file is visible.

    If the run dies between publish and record, the job row still knows the file, and
    whoever fails the job (hook or reconciler) deletes it: no file outlives its job.
    """
    return _update(engine, job_id, from_states=(JobState.RUNNING,), storage_key=storage_key)


def mark_succeeded(
    engine: Engine,
    job_id: int,
    *,
    row_count: int,
    file_size_bytes: int,
    sha256: str,
    filename: str,
    content_type: str,
    storage_key: str,
    expires_at: datetime,
) -> bool:
    """The file is published: the job becomes succeeded with everything about its file."""
    return _update(
        engine,
        job_id,
        state=JobState.SUCCEEDED,
        row_count=row_count,
        file_size_bytes=file_size_bytes,
        sha256=sha256,
        filename=filename,
        content_type=content_type,
        storage_key=storage_key,
        expires_at=expires_at,
        completed_at=utcnow(),
        error_message=None,
        error_detail=None,
        stage=None,
    )


def mark_failed(engine: Engine, job_id: int, message: str, detail: str | None = None) -> bool:
    """The run failed or crashed: ``message`` for clients, ``detail`` for operators."""
    return _update(
        engine,
        job_id,
        state=JobState.FAILED,
        error_message=message[:CLIENT_MESSAGE_CHARS],
        error_detail=(detail or message)[:DETAIL_CHARS],
        completed_at=utcnow(),
        dedupe_key=None,
        launch_claimed_until=None,
    )


def mark_cancelled(
    engine: Engine, job_id: int, message: str = "cancelled", *, only_if_queued: bool = False
) -> bool:
    """The job was cancelled before it finished (``only_if_queued``: not once it started)."""
    states = (JobState.QUEUED,) if only_if_queued else None
    return _update(
        engine,
        job_id,
        from_states=states,
        state=JobState.CANCELLED,
        error_message=message,
        completed_at=utcnow(),
        dedupe_key=None,
        launch_claimed_until=None,
    )


def mark_expired(engine: Engine, job_id: int) -> bool:
    """The file is past retention and was deleted."""
    return _update(
        engine,
        job_id,
        from_states=(JobState.SUCCEEDED,),
        state=JobState.EXPIRED,
        storage_key=None,
        dedupe_key=None,
    )


def forget_file(engine: Engine, job_id: int) -> bool:
    """A finished job that is not succeeded no longer has a file (it was deleted)."""
    states = TERMINAL_STATES - {JobState.SUCCEEDED}
    return _update(engine, job_id, from_states=states, storage_key=None)
