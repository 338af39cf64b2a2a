"""reconcile-exports: the scheduled pass that keeps job rows and flow runs in step."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prefect import flow, get_run_logger

from jobstore.leases import one_pass_at_a_time
from jobstore.store import job_engine
from report_exports.settings import get_settings
from submission.webhooks import announce
from tasks.reconcile import reconcile_jobs

LEASE = "reconcile-exports"
WAIT_FOR_LEASE = timedelta(seconds=5)


@flow(name="reconcile-exports", persist_result=False)
def reconcile_exports(now_iso: str | None = None) -> dict[str, Any]:
    """Launch lost launches, end jobs whose runs ended or died, delete orphaned files."""
    # A pass due while the last one still works ends here (jobstore/leases.py).
    held_for = timedelta(seconds=2 * get_settings().reconcile_seconds)
    with one_pass_at_a_time(job_engine(), LEASE, held_for, WAIT_FOR_LEASE) as held:
        if not held:
            get_run_logger().info("another reconcile pass is running; this one ends")
            return {"skipped": "another pass is running"}
        done = reconcile_jobs(now_iso)
    announce(job_engine())  # the events of the jobs this pass ended
    return done
