"""reconcile-exports: the scheduled pass that keeps job rows and flow runs in step."""

from __future__ import annotations

from typing import Any

from prefect import flow

from jobstore.store import job_engine
from submission.webhooks import announce
from tasks.reconcile import reconcile_jobs


@flow(name="reconcile-exports", persist_result=False)
def reconcile_exports(now_iso: str | None = None) -> dict[str, Any]:
    """Launch lost launches, end jobs whose runs ended or died, delete orphaned files."""
    done = reconcile_jobs(now_iso)
    announce(job_engine())  # the events of the jobs this pass ended
    return done
