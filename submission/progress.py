"""A job's progress as people are shown it: rows, stage and an ETA from the measured rate.

One pure function of the job row and the time, so every surface and the CLI say the same.
The rate is this run's (rows extracted since the run started, rows kept from an earlier
run left out); the ETA is the rows still to extract at that rate, counted down from the
last progress write. It is None when nothing was measured yet, or outside extraction
(rendering and publishing have no row rate to go by), and never negative.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from jobstore.models import ExportJob, JobState, Stage


@dataclass(frozen=True)
class Progress:
    """What a client may show a person about a job's progress."""

    rows_done: int
    rows_estimated: int | None
    stage: str | None
    eta_seconds: float | None
    rows_per_second: float | None

    def as_json(self) -> dict[str, float | str | None]:
        """The fields the surfaces add to their job objects (``progress`` extras)."""
        return {
            "rows_done": self.rows_done,
            "rows_estimated": self.rows_estimated,
            "stage": self.stage,
            "eta_seconds": self.eta_seconds,
        }


def rows_per_second(job: ExportJob) -> float | None:
    """This run's extraction rate, or None before anything was measured."""
    if job.started_at is None or job.progress_at is None:
        return None
    extracted = (job.rows_done or 0) - (job.rows_reused or 0)
    elapsed = (job.progress_at - job.started_at).total_seconds()
    if extracted <= 0 or elapsed <= 0:
        return None
    return extracted / elapsed


def job_progress(job: ExportJob, now: datetime, *, working: bool) -> Progress:
    """The job's progress at ``now``; ``working`` says whether its status is a working one.

    ``rows_done`` counts source rows read, as the estimate does (a summary's file has fewer
    rows). A finished job shows them and no stage; its ETA is 0 once it succeeded.
    """
    rows_done = job.rows_done or 0
    if not working:
        done = job.state in (JobState.SUCCEEDED, JobState.EXPIRED)
        return Progress(rows_done, job.rows_estimated, None, 0 if done else None, None)
    rate = rows_per_second(job)
    eta: float | None = None
    if job.stage == Stage.EXTRACTING and rate is not None and job.rows_estimated is not None:
        remaining = max(job.rows_estimated - rows_done, 0) / rate
        since = (now - job.progress_at).total_seconds() if job.progress_at else 0.0
        eta = max(round(remaining - max(since, 0.0), 1), 0.0)  # tenths: small exports too
    return Progress(rows_done, job.rows_estimated, job.stage, eta, rate)
