"""cleanup-expired: the scheduled retention flow."""

from __future__ import annotations

from prefect import flow

from jobstore.store import job_engine
from submission.webhooks import announce
from tasks.retention import expire


@flow(name="cleanup-expired", persist_result=False)
def cleanup_expired(now_iso: str | None = None) -> dict[str, list[int]]:
    """Delete files past retention and mark their jobs expired."""
    done = expire(now_iso)
    announce(job_engine())  # the events of the jobs this pass ended
    return done
