"""cleanup-expired: the scheduled retention flow."""

from __future__ import annotations

from typing import Any

from prefect import flow

from jobstore.store import job_engine
from submission.webhooks import announce
from tasks.retention import expire, forget_idempotency_keys


@flow(name="cleanup-expired", persist_result=False)
def cleanup_expired(now_iso: str | None = None) -> dict[str, Any]:
    """Delete files past retention and mark their jobs expired; forget expired keys."""
    done = {**expire(now_iso), "idempotency_keys_forgotten": forget_idempotency_keys(now_iso)}
    announce(job_engine())  # the events of the jobs this pass ended
    return done
