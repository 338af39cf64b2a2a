"""cleanup-expired: the scheduled retention flow."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prefect import flow, get_run_logger

from jobstore.leases import one_pass_at_a_time
from jobstore.store import job_engine
from submission.webhooks import announce
from tasks.retention import expire, forget_idempotency_keys

LEASE = "cleanup-expired"
HELD_FOR = timedelta(minutes=10)
WAIT_FOR_LEASE = timedelta(seconds=5)


@flow(name="cleanup-expired", persist_result=False)
def cleanup_expired(now_iso: str | None = None) -> dict[str, Any]:
    """Delete files past retention and mark their jobs expired; forget expired keys."""
    # A pass due while the last one still works ends here (jobstore/leases.py).
    with one_pass_at_a_time(job_engine(), LEASE, HELD_FOR, WAIT_FOR_LEASE) as held:
        if not held:
            get_run_logger().info("another cleanup pass is running; this one ends")
            return {"skipped": "another pass is running"}
        done = {**expire(now_iso), "idempotency_keys_forgotten": forget_idempotency_keys(now_iso)}
    announce(job_engine())  # the events of the jobs this pass ended
    return done
