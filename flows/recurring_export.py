"""recurring-export: on its schedule, create this period's export job and launch it.

Each recurring export is a deployment of this flow (declared in ``prefect.yaml``) or a
schedule an account made through the API; its parameters name the account, report,
format and a relative range; the schedule (cron and time zone) decides when. The job it
creates goes through the submission service like one made through the API: it shows in
the account's list, runs as an ``export-report`` flow run and is downloaded the same way.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

from anyio import to_thread
from prefect import flow, get_run_logger
from prefect.runtime import deployment as current_deployment
from prefect.runtime import flow_run as current_run

from catalog.relative_ranges import RelativeRange, period, zone
from jobstore.accounts import account_by_name, principal_for_account
from jobstore.store import job_engine
from submission.schedules import stored_definition
from submission.service import submit
from surfaces.ranges import range_params

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
    schedule_id: str | None = None,
) -> int | None:
    """Create the export job of the period before the scheduled time; return its id.

    A run of an account's schedule (``schedule_id``) follows the stored definition, which
    is the truth when Prefect still holds an older one, and makes no job for a schedule
    that was paused or deleted (None).
    """
    engine = job_engine()
    if schedule_id is not None:
        stored = await to_thread.run_sync(stored_definition, schedule_id)
        if stored is None or stored.paused:
            get_run_logger().warning(
                "schedule %s is %s: no job made", schedule_id, "paused" if stored else "deleted"
            )
            return None
        surface, report_type, format = stored.surface, stored.report_type, stored.format
        range, timezone, filters = stored.range, stored.timezone, stored.filters  # type: ignore[assignment]
        owner_id = stored.account_id
    else:
        owner_id = (await to_thread.run_sync(account_by_name, engine, account)).id
    tz = zone(timezone)
    first, last = period(range, scheduled_time(), tz)
    requester = f"schedule:{schedule_id or current_deployment.name or 'recurring-export'}"
    principal = await to_thread.run_sync(principal_for_account, engine, owner_id, requester)
    view, created = await submit(
        principal,
        surface,
        report_type,
        format,
        range_params(surface, first, last, tz, filters or {}),
        reuse_completed_for=SAME_PERIOD_REUSE,
        requested_by=requester,
        launch_now=True,
        schedule_id=schedule_id,
    )
    get_run_logger().info(
        "%s job %s for %s, %s..%s",
        "created" if created else "reused",
        view.job.id,
        account,
        first,
        last,
    )
    return view.job.id


def scheduled_time() -> datetime:
    """When this run was scheduled (aware, UTC); now for a run started by hand."""
    scheduled = current_run.scheduled_start_time
    return datetime.fromtimestamp(scheduled.timestamp(), UTC) if scheduled else datetime.now(UTC)
