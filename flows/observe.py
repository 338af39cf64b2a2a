"""What an operator sees of one export run in the Prefect UI, beside its task runs.

- the job row's stage (``planning`` → ``extracting`` → ``rendering`` → ``publishing``) and
  the seconds each stage took;
- a progress artifact that moves as chunks finish (at most one update a second, and the
  last one), and at the end a markdown summary linking to the job's detail in the API;
- the ``running`` and ``succeeded`` events of the export's life (``submission.events``).

A Prefect server that refuses an artifact never fails the export: the refusal is logged
and counted in :data:`REFUSED_ARTIFACTS`. Artifacts are written in order by one background
thread of the run (:class:`ArtifactWriter`), so the export never waits on the Prefect
server for them; the run waits for the last of them once the job is recorded.
"""

from __future__ import annotations

import contextvars
import json
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, TypeVar
from uuid import UUID

from prefect.futures import PrefectFuture, as_completed

from jobstore.models import Stage
from jobstore.store import get_job, job_engine
from jobstore.transitions import mark_planning, set_progress
from report_exports.settings import get_settings
from submission.events import ExportEvent, emit_export_event
from surfaces.registry import get_surface
from tasks.job_context import ExportContext
from tasks.plan import ExportPlan
from tasks.publish import PublishedFile
from tasks.run_log import run_logger

T = TypeVar("T")
REFUSED_ARTIFACTS: Counter[str] = Counter()
"""Artifacts this process could not create or update, by kind."""
ARTIFACT_EVERY_SECONDS = 1.0
ARTIFACT_DRAIN_SECONDS = 10.0


def _artifact(kind: str, call: Callable[[], T]) -> T | None:
    try:
        return call()
    except Exception as exc:  # an artifact must never fail the export it describes
        REFUSED_ARTIFACTS[kind] += 1
        run_logger().warning("%s artifact not written: %s", kind, exc)
        return None


class ArtifactWriter:
    """Writes a run's artifacts in order on one daemon thread, in the caller's context.

    The context (Prefect's flow-run context and client) is copied at each ``submit``, so
    every artifact is linked to the run that asked for it.
    """

    def __init__(self) -> None:
        self._calls: queue.Queue[Callable[[], object]] = queue.Queue()
        self._thread: threading.Thread | None = None

    def submit(self, kind: str, call: Callable[[], T]) -> None:
        """Write an artifact later (``call`` errors are logged, never raised)."""
        context = contextvars.copy_context()
        self._calls.put(lambda: context.run(_artifact, kind, call))
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="artifacts", daemon=True)
            self._thread.start()

    def _work(self) -> None:
        while True:
            self._calls.get()()
            self._calls.task_done()

    def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for what was submitted; True when all is written."""
        deadline = time.monotonic() + timeout
        while self._calls.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self._calls.unfinished_tasks


def artifact_key(job_id: int, what: str) -> str:
    """Artifact keys of a job (lowercase, digits and dashes, as Prefect wants them)."""
    return f"export-job-{job_id}-{what}"


class ExportRun:
    """The operator's view of one export flow run, written as the run goes."""

    def __init__(self, ctx: ExportContext) -> None:
        self.ctx = ctx
        self.job_id = ctx.ref.job_id
        self.seconds: dict[str, float] = {}
        self._stage: str | None = None
        self._since = time.monotonic()
        self._progress_id: UUID | None = None
        self.artifacts = ArtifactWriter()

    def enter(self, stage: Stage) -> None:
        """The run starts ``stage``: time the one before, say it on the job row."""
        self._close_stage()
        self._stage, self._since = stage, time.monotonic()
        if stage == Stage.PLANNING:
            mark_planning(job_engine(), self.job_id)
        elif stage != Stage.EXTRACTING:  # extracting is written with the running state
            set_progress(job_engine(), self.job_id, stage=stage)

    def _close_stage(self) -> None:
        if self._stage is not None:
            self.seconds[self._stage] = time.monotonic() - self._since

    def running(self, export_plan: ExportPlan, kept_parts: int) -> None:
        """The job is running its chunks: event, progress artifact, the stage."""
        self.enter(Stage.EXTRACTING)
        emit_export_event(job_engine(), ExportEvent.RUNNING, self.job_id)
        total = len(export_plan.chunks)
        from prefect.artifacts import create_progress_artifact

        def create() -> None:
            self._progress_id = create_progress_artifact(  # type: ignore[assignment]
                progress=100.0 * kept_parts / total,
                key=artifact_key(self.job_id, "progress"),
                description=f"Chunks of export job {self.job_id} in staging",
            )  # called from sync code: a UUID, not a coroutine

        self.artifacts.submit("progress", create)

    def wait_for_chunks(self, futures: Iterable[PrefectFuture[T]]) -> None:
        """Wait for every chunk; the progress artifact follows them (≤ 1 update a second)."""
        pending = list(futures)
        total, last = len(pending), 0.0
        for done, _future in enumerate(as_completed(pending), start=1):
            now = time.monotonic()
            if done == total or now - last >= ARTIFACT_EVERY_SECONDS:
                last = now
                self._update_progress(100.0 * done / max(total, 1))

    def _update_progress(self, percent: float) -> None:
        from prefect.artifacts import update_progress_artifact

        def update() -> None:  # after the create, on the same thread
            if self._progress_id is not None:
                update_progress_artifact(self._progress_id, percent)

        self.artifacts.submit("progress", update)

    def succeeded(self, published: PublishedFile) -> None:
        """The job is recorded: summary artifact and the succeeded event."""
        self._close_stage()
        self._stage = None
        engine = job_engine()
        job = get_job(engine, self.job_id)
        surface = get_surface(job.surface)
        link = f"{get_settings().base_url}{surface.detail_path(job.id, job.public_id)}"
        markdown = summary_markdown(self.ctx, job.surface, published, self.seconds, link)
        from prefect.artifacts import create_markdown_artifact

        self.artifacts.submit(
            "summary",
            lambda: create_markdown_artifact(
                markdown=markdown,
                key=artifact_key(self.job_id, "summary"),
                description=f"Export job {self.job_id}: what was published",
            ),
        )
        emit_export_event(
            engine,
            ExportEvent.SUCCEEDED,
            job,
            rows=published.row_count,
            size_bytes=published.size_bytes,
            sha256=published.sha256,
        )
        run_logger().info(
            "export job %s succeeded; seconds per stage: %s",
            self.job_id,
            ", ".join(f"{k} {v:.2f}" for k, v in self.seconds.items()),
        )
        if not self.artifacts.drain(ARTIFACT_DRAIN_SECONDS):
            run_logger().warning("export job %s: artifacts still being written", self.job_id)


def summary_markdown(
    ctx: ExportContext,
    surface: str,
    published: PublishedFile,
    seconds: dict[str, float],
    link: str,
) -> str:
    """The published export as a markdown table (the API detail link, never a file URL)."""
    params: Any = ctx.params.model_dump(mode="json", by_alias=True, exclude_none=True)
    rows = [
        ("Report", f"{ctx.report.display_name} (`{ctx.report.name}`)"),
        ("Account", f"{ctx.account_name or '-'} (account {ctx.account_id})"),
        ("Surface", surface),
        ("Format", ctx.ref.format),
        ("Parameters", f"`{json.dumps(params, sort_keys=True, default=str)}`"),
        ("Rows", f"{published.row_count:,}"),
        ("Size", f"{published.size_bytes:,} bytes"),
        ("SHA-256", f"`{published.sha256}`"),
        ("File", published.filename),
    ]
    rows += [(f"Seconds {stage}", f"{took:.2f}") for stage, took in seconds.items()]
    table = "\n".join(f"| {name} | {_cell(value)} |" for name, value in rows)
    return (
        f"# Export job {ctx.ref.job_id}\n\n| | |\n|---|---|\n{table}\n\n"
        f"Job detail in the API: [{link}]({link})\n"
    )


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
