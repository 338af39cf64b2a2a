"""export-report: one flow run turns one export job into one published file."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

from prefect import flow, unmapped
from prefect.concurrency.sync import concurrency
from prefect.context import FlowRunContext
from prefect.runtime import flow_run as current_run

from flows.heartbeat import job_heartbeat
from flows.job_hooks import job_cancelled, job_crashed, job_failed
from flows.observe import ExportRun
from flows.task_runners import chunk_task_runner
from jobstore.models import Stage
from jobstore.store import job_engine
from jobstore.transitions import mark_running
from report_exports import failpoints
from report_exports.errors import ExportError
from report_exports.settings import get_settings
from storage.files import default_storage
from submission.launcher import account_queue
from submission.webhooks import announce
from tasks.extract import DONE_MARKER, chunk_prefix, extract_with_retries
from tasks.job_context import load_context
from tasks.merge import merge
from tasks.plan import plan
from tasks.publish import publish
from tasks.record import record
from tasks.render import preload_renderer, render


# Prefect 3.8's stubs type hooks and runners more narrowly than they are called.
@flow(
    name="export-report",
    flow_run_name="export job {job_id}",
    on_failure=[job_failed],  # type: ignore[list-item]
    on_crashed=[job_crashed],  # type: ignore[list-item]
    on_cancellation=[job_cancelled],  # type: ignore[list-item]
    persist_result=False,
    log_prints=True,
)
def export_report(job_id: int) -> dict[str, Any]:
    """plan → extract.map(chunks) → merge → render → publish → record."""
    settings = get_settings()  # read when the run starts, not when the module was imported
    ctx = load_context(job_id)
    job = ctx.ref
    # No tags() around the tasks: Prefect then asks the server for tag concurrency slots at
    # every task start, which stalled a stage for ~2 s in about one run of three. The flow
    # run carries the account, report, format and surface tags (submission/launcher.py).
    preload_renderer(job.format)  # in the background, as soon as the format is known
    observed = ExportRun(ctx)  # stages, progress artifact, summary, events (flows/observe.py)
    with _account_slot(ctx.account_id):
        observed.enter(Stage.PLANNING)
        export_plan = plan(job)
        kept_parts, kept_rows = _already_done(job_id, export_plan.chunks)
        _start(job_id, len(export_plan.chunks), kept_parts, export_plan.rows_estimated, kept_rows)
        observed.running(export_plan, kept_parts)
        failpoints.hold("after-start")
        with job_heartbeat(job_id, settings.job_heartbeat_seconds):
            with chunk_task_runner(settings) as runner:
                parts = runner.map(
                    extract_with_retries(settings),
                    {
                        "job": unmapped(job),
                        "chunk": export_plan.chunks,
                        "outputs": unmapped(export_plan.outputs),
                    },
                )
                observed.wait_for_chunks(parts)
                finished = parts.result()
            observed.enter(Stage.RENDERING)
            merged = merge(job, export_plan, finished)
            rendered = render(job, merged)
            observed.enter(Stage.PUBLISHING)
            published = publish(job, rendered)
            failpoints.hold("before-record")
            recorded = record(job, published)
            observed.succeeded(published)
    announce(job_engine())  # export.succeeded goes out now, from a run of its own
    return recorded


def _account_slot(account_id: int) -> AbstractContextManager[Any]:
    """A slot of the account's limit, for runs the launcher put on the account's queue.

    The launcher makes the limit together with the queue (work-pool mode only). Served runs
    have no queue and skip the call: asking for a missing limit cost up to 2.3 s some runs.
    """
    queue = account_queue(account_id)
    run = FlowRunContext.get()
    if run is None or run.flow_run is None or run.flow_run.work_queue_name != queue:
        return nullcontext()
    return concurrency(queue, strict=False)


def _already_done(job_id: int, chunks: Any) -> tuple[int, int]:
    """Chunks an earlier run of the job left in staging, and their rows."""
    storage = default_storage()
    parts = rows = 0
    for chunk in chunks:
        marker = f"{chunk_prefix(job_id, chunk)}/{DONE_MARKER}"
        if storage.exists(marker):
            parts += 1
            rows += int(storage.read_text(marker).strip() or 0)
    return parts, rows


def _start(job_id: int, total: int, done: int, rows_estimated: int, rows_kept: int) -> None:
    run_id = current_run.id
    if not mark_running(
        job_engine(),
        job_id,
        flow_run_id=str(run_id) if run_id else None,
        parts_total=total,
        parts_done=done,
        rows_estimated=rows_estimated,
        rows_reused=rows_kept,
    ):
        raise ExportError(
            f"job {job_id} was cancelled, has finished or belongs to another flow run; "
            "not running it"
        )
