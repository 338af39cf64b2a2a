"""Serve the deployments of the embedded stack: export-report, cleanup-expired,
reconcile-exports, deliver-webhooks and recurring-export (whose schedules are the accounts'
own).

Run as ``python -m deployments.serve`` by ``report-exports up`` (after the environment
points at the Prefect server). The flows are added to a Prefect ``Runner`` as flows (not as
deployments loaded by entrypoint), so the runner starts each flow run from the flow object
it holds; with ``use_warm_flow_processes`` that start is a fork of a process that already
imported everything (deployments/flow_processes.py), instead of ``python -m prefect.engine``
importing Prefect, polars and the flow anew for every run.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from deployments.flow_processes import use_warm_flow_processes
from deployments.runner_nudge import nudges
from report_exports.settings import get_settings

CLEANUP_EVERY = timedelta(minutes=10)
TAGS = ["report-exports"]

logger = logging.getLogger(__name__)


def main() -> None:
    """Register the deployments and run them until interrupted."""
    from prefect.exceptions import TerminationSignal
    from prefect.runner import Runner

    from flows.cleanup_expired import cleanup_expired
    from flows.deliver_webhooks import deliver_webhooks
    from flows.export_report import export_report
    from flows.reconcile_exports import reconcile_exports
    from flows.recurring_export import recurring_export

    settings = get_settings()
    use_warm_flow_processes()
    # As prefect.serve() does, but with flows: a deployment added by add_deployment runs
    # as `python -m prefect.engine`, a cold interpreter per run.
    runner = Runner(
        name="report-exports",
        limit=settings.serve_limit,
        query_seconds=settings.runner_poll_seconds,
        pause_on_shutdown=True,
    )
    # Housekeeping passes run one at a time by a lease in the job store (a run that comes
    # due while the last still works ends at once), not by a deployment concurrency limit:
    # Prefect's cancel-new path locked its SQLite database for the 60 s busy timeout.
    # The store tag tells a CLI whether this stack shares its job store (cli/stack_run.py).
    runner.add_flow(export_report, name="export-report", tags=[*TAGS, settings.store_tag])
    runner.add_flow(
        cleanup_expired,
        name="cleanup-expired",
        interval=CLEANUP_EVERY,
        tags=TAGS,
    )
    runner.add_flow(
        reconcile_exports,
        name="reconcile-exports",
        interval=timedelta(seconds=settings.reconcile_seconds),
        tags=TAGS,
    )
    runner.add_flow(
        deliver_webhooks,
        name="deliver-webhooks",
        interval=timedelta(seconds=settings.webhook_sweep_seconds),
        tags=TAGS,
    )
    # Accounts' schedules live on this deployment; applying it keeps them (they have
    # slugs), and the sync puts back any Prefect lost (a fresh database).
    runner.add_flow(recurring_export, name="recurring-export", tags=[*TAGS, "recurring"])
    sync_account_schedules()

    async def serve() -> None:
        # Launchers nudge the runner as they create a run (deployments/runner_nudge.py).
        async with nudges(settings.runner_socket, runner._get_and_submit_flow_runs):
            await runner.start()

    try:
        asyncio.run(serve())
    except (KeyboardInterrupt, TerminationSignal) as exc:
        logger.info("received %s, shutting down", type(exc).__name__)


def sync_account_schedules() -> None:
    """Put Prefect's account schedules in step with the job store (logged, never fatal)."""
    from submission.schedules import sync_schedules

    try:
        report = asyncio.run(sync_schedules())
    except Exception:  # the job store or Prefect away: the reconcile pass tries again
        logger.warning("account schedules not synced at start", exc_info=True)
        return
    logger.info("account schedules in step with Prefect: %s", report)


if __name__ == "__main__":
    main()
