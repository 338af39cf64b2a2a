"""Running one export in this process, without the API (the CLI and the demo use it)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from catalog.registry import ExportRequest
from jobstore.models import ExportJob
from jobstore.store import get_job, init_store, job_engine
from storage.files import default_storage
from submission.operator_jobs import create_local_job
from submission.progress import job_progress

ProgressCallback = Callable[[ExportJob], None]


def run_export_locally(
    request: ExportRequest,
    account_id: int,
    *,
    on_progress: ProgressCallback | None = None,
    poll_seconds: float = 0.3,
) -> ExportJob:
    """Create the job row, run the export flow to its end, return the final job row.

    The caller must have pointed this process at a Prefect server (ensure_prefect_server)
    before prefect is imported. Chunks run where the settings say (``task_runner``).
    """
    from flows.export_report import export_report  # imports prefect: after the env is set
    from tasks.render import preload_renderer

    # The renderer imports while the job row and the flow run are made (mostly waiting on
    # the database and the Prefect server), not while the chunks compete for the cores.
    preload_renderer(request.format)
    engine = job_engine()
    init_store(engine)
    job = create_local_job(request, account_id, requested_by="cli")
    outcome: dict[str, Any] = {}

    def target() -> None:
        outcome["state"] = export_report(job.id, return_state=True)

    worker = threading.Thread(target=target, name=f"export-job-{job.id}", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(poll_seconds)
        if on_progress is not None:
            on_progress(get_job(engine, job.id))
    return get_job(engine, job.id)


def file_location(job: ExportJob) -> str:
    """Where the job's published file is (a local path, or a storage URL)."""
    storage = default_storage()
    if job.storage_key is None:
        return ""
    path = storage.path(job.storage_key)
    return path if storage.is_local else f"{storage.fs.protocol[0]}://{path}"


def bar_fields(job: ExportJob) -> dict[str, Any]:
    """What the CLI's progress bar shows of a job: rows, stage, rate and ETA (job_progress)."""
    shown = job_progress(job, datetime.now(UTC), working=not job.is_terminal)
    of = f"/{shown.rows_estimated:,}" if shown.rows_estimated is not None else ""
    return {
        "rows": f"{shown.rows_done:,}{of} rows",
        "completed": shown.rows_done,
        "total": shown.rows_estimated,
        "stage": shown.stage or ("queued" if job.state == "queued" else ""),
        "rate": f"{shown.rows_per_second:,.0f} rows/s" if shown.rows_per_second else "- rows/s",
        "eta": f"ETA {shown.eta_seconds:.0f} s" if shown.eta_seconds is not None else "ETA -",
    }
