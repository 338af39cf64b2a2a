"""The export's life as Prefect events, for automations of the open-source server to act on.

``report-exports.export.created|running|succeeded|failed|cancelled|expired``, about the
resource ``report-exports.job.<id>``, related to its account (``report-exports.account.<id>``,
with the account's plan as a label), its report and its flow run. An event the server
refuses (or a client that cannot be made) never fails an export: it is logged and counted
in :data:`REFUSED`.
"""

from __future__ import annotations

import logging
from collections import Counter
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine, select

from jobstore.models import Account, ExportJob
from jobstore.store import get_job

logger = logging.getLogger(__name__)

EVENT_PREFIX = "report-exports.export"
REFUSED: Counter[str] = Counter()
"""Events that could not be handed to Prefect in this process, by event name."""


class ExportEvent(StrEnum):
    """What happened to an export."""

    CREATED = "created"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def event_name(self) -> str:
        """``report-exports.export.<what>``."""
        return f"{EVENT_PREFIX}.{self.value}"


def job_resource_id(job_id: int) -> str:
    """The Prefect resource id of a job."""
    return f"report-exports.job.{job_id}"


def _plan(engine: Engine, account_id: int) -> str:
    with engine.connect() as conn:
        plan = conn.execute(select(Account.plan).where(Account.id == account_id)).scalar()
    return plan or ""


def event_payload(job: ExportJob, plan: str) -> dict[str, Any]:
    """``resource`` and ``related`` of a job's event."""
    related = [
        {
            "prefect.resource.id": f"report-exports.account.{job.account_id}",
            "prefect.resource.role": "account",
            "report-exports.plan": plan,
        },
        {
            "prefect.resource.id": f"report-exports.report.{job.surface}.{job.report_type}",
            "prefect.resource.role": "report",
        },
    ]
    if job.flow_run_id:
        run_id = f"prefect.flow-run.{job.flow_run_id}"
        related.append({"prefect.resource.id": run_id, "prefect.resource.role": "flow-run"})
    resource = {
        "prefect.resource.id": job_resource_id(job.id),
        "prefect.resource.name": f"export job {job.id}",
        "report-exports.public-id": job.public_id,
        "report-exports.surface": job.surface,
        "report-exports.format": job.format,
    }
    return {"resource": resource, "related": related}


def emit_export_event(
    engine: Engine, what: ExportEvent, job: ExportJob | int, **payload: Any
) -> bool:
    """Emit one event of the job's life; False (logged, counted) when it could not be."""
    try:
        from prefect.events import emit_event

        row = get_job(engine, job) if isinstance(job, int) else job
        sent = emit_event(
            event=what.event_name,
            payload={"state": row.state, **payload},
            **event_payload(row, _plan(engine, row.account_id)),
        )
        if sent is None:  # no events client here (Prefect not configured)
            raise RuntimeError("no events client")
    except Exception as exc:  # an event must never fail the export it reports
        REFUSED[what.event_name] += 1
        logger.warning("event %s not emitted: %s", what.event_name, exc)
        return False
    return True
