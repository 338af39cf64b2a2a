"""recurring-export: on its schedule, create this period's export job and launch it.

Each recurring export is a deployment of this flow (declared in ``prefect.yaml``) whose
parameters name the account, report, format and a relative range; the schedule (cron and
time zone) decides when. The job it creates is like one made through the API: it shows in
the account's list, runs as an ``export-report`` flow run and is downloaded the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import deployment as current_deployment
from prefect.runtime import flow_run as current_run

from api_shim.launcher import LaunchError, launch
from catalog.registry import validate_request
from catalog.relative_ranges import RelativeRange, period, range_params, zone
from jobstore.accounts import account_by_name
from jobstore.store import create_job_once, job_engine, mark_failed, set_flow_run
from report_exports.errors import ValidationError

# A retried run of the same period finds the job it made instead of making another.
SAME_PERIOD_REUSE = timedelta(days=1)


@flow(name="recurring-export", retries=2, retry_delay_seconds=30, persist_result=False)
async def recurring_export(
    account: str,
    surface: str,
    report_type: str,
    format: str | None = None,
    range: RelativeRange = "previous-day",
    timezone: str = "UTC",
    filters: dict[str, Any] | None = None,
) -> int:
    """Create the export job of the period before the scheduled time; return its id."""
    tz = zone(timezone)
    first, last = period(range, scheduled_time(), tz)
    engine = job_engine()
    owner = account_by_name(engine, account)
    _require_export_plan(surface, owner.plan)
    request = validate_request(
        surface, report_type, format, range_params(surface, first, last, tz, filters or {})
    )
    job, created = create_job_once(
        engine,
        surface=surface,
        account_id=owner.id,
        report_type=report_type,
        fmt=request.format,
        params=request.params_json(),
        requested_by=f"schedule:{current_deployment.name or 'recurring-export'}",
        reuse_completed_for=SAME_PERIOD_REUSE,
    )
    if created:
        try:
            set_flow_run(engine, job.id, await launch(job))
        except LaunchError as exc:
            mark_failed(engine, job.id, str(exc))  # never a queued job that nothing runs
            raise
    get_run_logger().info(
        "%s job %s for %s, %s..%s", "created" if created else "reused", job.id, account, first, last
    )
    return job.id


def scheduled_time() -> datetime:
    """When this run was scheduled (aware, UTC); now for a run started by hand."""
    scheduled = current_run.scheduled_start_time
    return datetime.fromtimestamp(scheduled.timestamp(), UTC) if scheduled else datetime.now(UTC)


def _require_export_plan(surface: str, plan: str) -> None:
    from api_shim.routers.verifyhuman import ALLOWED_PLANS  # the seed's plan gate

    if surface == "verifyhuman" and plan not in ALLOWED_PLANS:
        raise ValidationError(
            "Export functionality requires Growth plan or higher", field="account"
        )
