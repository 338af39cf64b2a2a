"""Serve the deployments of the embedded stack: export-report and cleanup-expired.

Run as ``python -m deployments.serve`` by ``report-exports up`` (after the environment
points at the Prefect server). Each export flow run starts in its own subprocess.
"""

from __future__ import annotations

from datetime import timedelta
from typing import cast

from report_exports.settings import get_settings

CLEANUP_EVERY = timedelta(minutes=10)


def main() -> None:
    """Register both deployments and run them until interrupted."""
    from prefect import serve
    from prefect.deployments.runner import RunnerDeployment

    from flows.cleanup_expired import cleanup_expired
    from flows.export_report import export_report

    settings = get_settings()
    # Called synchronously, to_deployment returns the deployment (its stub says maybe a
    # coroutine).
    export = cast(
        RunnerDeployment, export_report.to_deployment(name="export-report", tags=["report-exports"])
    )
    cleanup = cast(
        RunnerDeployment,
        cleanup_expired.to_deployment(
            name="cleanup-expired", interval=CLEANUP_EVERY, tags=["report-exports"]
        ),
    )
    serve(
        export,
        cleanup,
        limit=settings.serve_limit,
        print_starting_message=False,
    )


if __name__ == "__main__":
    main()
