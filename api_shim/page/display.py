"""How a job reads on the page: status in plain words, progress, sizes and times.

Progress shows what the job row has today (parts done of parts planned, rows written);
rows to go and an ETA come from the progress work (#14) when it lands: they are read
defensively from the view (``view.progress`` or the job row), so the page shows them as
soon as they exist and shows nothing it does not know.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from submission.service import JobView
from surfaces.base import Phase

PLAIN_WORDS = {
    Phase.QUEUED: "Waiting to start",
    Phase.WORKING: "Running",
    Phase.SUCCEEDED: "Ready",
    Phase.EXPIRED: "Expired",
    Phase.FAILURE: "Failed",
    Phase.CANCEL: "Cancelled",
}
STAGE_WORDS = {
    "planning": "Planning",
    "extracting": "Reading data",
    "rendering": "Writing the file",
    "publishing": "Publishing",
}


@dataclass(frozen=True)
class Progress:
    """What the page knows of a job's progress."""

    parts_done: int
    parts_total: int | None
    rows_done: int | None
    rows_total: int | None
    eta_seconds: float | None
    stage: str | None

    @property
    def value(self) -> int:
        """The progress bar's value (parts done)."""
        return min(self.parts_done, self.parts_total or 0)

    @property
    def percent(self) -> int:
        """Whole percent of parts done (0 until the job is planned)."""
        return round(100 * self.value / self.parts_total) if self.parts_total else 0


def _number(source: Any, *names: str) -> float | None:
    for name in names:
        value = getattr(source, name, None)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
    return None


def progress_of(view: JobView) -> Progress:
    """Progress from the job row, completed by ``view.progress`` (#14) when it exists."""
    job, extra = view.job, getattr(view, "progress", None)
    parts_total = job.parts_total or None
    parts_done = job.parts_done or 0
    if view.status.phase == Phase.SUCCEEDED and parts_total:
        parts_done = parts_total
    rows_done = _number(extra, "rows_done") or _number(job, "rows_done")
    rows_total = _number(extra, "rows_total", "rows_estimated") or _number(job, "rows_estimated")
    eta = _number(extra, "eta_seconds") or _number(view, "eta_seconds")
    stage = getattr(extra, "stage", None) or job.stage
    return Progress(
        parts_done=parts_done,
        parts_total=parts_total,
        rows_done=int(rows_done) if rows_done else None,
        rows_total=int(rows_total) if rows_total else None,
        eta_seconds=eta if eta is not None and eta >= 0 else None,
        stage=STAGE_WORDS.get(str(stage)) if stage else None,
    )


def plain_status(view: JobView) -> str:
    """The status in plain words."""
    return PLAIN_WORDS[view.status.phase]


def status_class(view: JobView) -> str:
    """A CSS class for the status badge."""
    return f"status-{view.status.phase.value}"


def size_text(size: int | None) -> str:
    """``1.4 MB``; empty when unknown."""
    if size is None:
        return ""
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    return ""


def time_text(moment: datetime | None) -> str:
    """``2025-12-02 15:40 UTC``; empty when unknown."""
    if moment is None:
        return ""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def iso_text(moment: datetime | None) -> str:
    """The machine-readable form for ``<time datetime>``."""
    return "" if moment is None else moment.astimezone(UTC).isoformat(timespec="seconds")


def eta_text(seconds: float | None) -> str:
    """``about 2 min left``."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"about {max(1, round(seconds))} s left"
    return f"about {round(seconds / 60)} min left"


def progress_text(progress: Progress) -> str:
    """``3 of 10 parts · 1,200 of 5,000 rows · about 20 s left``."""
    bits = []
    if progress.stage:
        bits.append(progress.stage)
    if progress.parts_total:
        bits.append(f"{progress.value} of {progress.parts_total} parts")
    if progress.rows_done is not None and progress.rows_total:
        bits.append(f"{progress.rows_done:,} of about {progress.rows_total:,} rows")
    elif progress.rows_done:
        bits.append(f"{progress.rows_done:,} rows")
    if progress.eta_seconds is not None:
        bits.append(eta_text(progress.eta_seconds))
    return " · ".join(bits) or "Not started yet"
