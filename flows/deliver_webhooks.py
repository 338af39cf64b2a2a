"""deliver-webhooks: attempt every due webhook delivery once, then book the next run.

Runs are made by whoever ends a job (right away), by this flow for the next retry that is
due (Prefect holds the schedule), and by the deployment's own interval schedule as a
safety net. Deliveries are claimed with a lease, so overlapping runs share the work; a
receiver that hangs costs its attempt the timeout, never an export (they are other runs).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from jobstore.models import WebhookDelivery
from jobstore.store import job_engine
from jobstore.webhooks import claim_due
from report_exports.settings import get_settings
from submission.webhooks import attempt, schedule_next

EARLY_START_SECONDS = 15.0
"""The runner starts scheduled runs up to its prefetch (10 s) early; wait no longer than this."""


@task(name="deliver-webhook", task_run_name="{delivery.public_id}", cache_policy=NO_CACHE)
def deliver_one(delivery: WebhookDelivery) -> dict[str, Any]:
    """One attempt of one delivery, logged on its row."""
    result = attempt(job_engine(), delivery)
    return {"delivery": delivery.public_id, "status_code": result.status_code, "ok": result.ok}


def _wait_until(due_at: str | None) -> None:
    if not due_at:
        return
    wait = datetime.fromisoformat(due_at).timestamp() - time.time()
    if wait > 0:
        time.sleep(min(wait, EARLY_START_SECONDS))


@flow(name="deliver-webhooks", persist_result=False)
def deliver_webhooks(due_at: str | None = None) -> dict[str, Any]:
    """Attempt the due deliveries (in parallel), then schedule the run of the next retry."""
    _wait_until(due_at)
    engine, settings = job_engine(), get_settings()
    lease = timedelta(seconds=settings.webhook_timeout_seconds * 2 + 30)
    claimed = claim_due(engine, lease=lease)
    results = deliver_one.map(claimed).result() if claimed else []
    following = schedule_next(engine)
    return {
        "attempted": len(results),
        "delivered": sum(1 for r in results if r["ok"]),
        "next_run_at": following.isoformat() if following else None,
    }
