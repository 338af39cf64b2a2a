"""The one pure function: job facts + Prefect flow-run state → a surface's status.

The job row is the truth once it is finished (hooks wrote it). While it is not, the flow
run's state decides, so a crashed or cancelled run shows as such even if no hook ran.
"""

from __future__ import annotations

from dataclasses import dataclass

from jobstore.models import JobState

# Prefect StateType values (strings, so this module needs no Prefect import).
SCHEDULED, PENDING, RUNNING, PAUSED = "SCHEDULED", "PENDING", "RUNNING", "PAUSED"
COMPLETED, FAILED, CRASHED = "COMPLETED", "FAILED", "CRASHED"
CANCELLING, CANCELLED = "CANCELLING", "CANCELLED"

# Internal phases, then each surface's word for them.
QUEUED, WORKING, SUCCEEDED, EXPIRED, FAILURE, CANCEL = (
    "queued",
    "working",
    "succeeded",
    "expired",
    "failure",
    "cancel",
)

SURFACE_STATUS: dict[str, dict[str, str]] = {
    "verifyhuman": {
        QUEUED: "queued",
        WORKING: "running",
        SUCCEEDED: "succeeded",
        EXPIRED: "succeeded",
        FAILURE: "failed",
        CANCEL: "cancelled",
    },
    "hienergy": {
        QUEUED: "pending",
        WORKING: "processing",
        SUCCEEDED: "completed",
        EXPIRED: "completed",
        FAILURE: "failed",
        CANCEL: "failed",
    },
    "webhooks": {
        QUEUED: "pending",
        WORKING: "processing",
        SUCCEEDED: "completed",
        EXPIRED: "expired",
        FAILURE: "failed",
        CANCEL: "failed",
    },
}


@dataclass(frozen=True)
class RunState:
    """What Prefect says of the job's flow run (type and name), if it has one."""

    type: str
    name: str = ""
    message: str = ""


@dataclass(frozen=True)
class Status:
    """A job's status on one surface, and why it failed when it did."""

    value: str
    phase: str
    error: str | None = None

    @property
    def file_available(self) -> bool:
        """True when the file can be downloaded."""
        return self.phase == SUCCEEDED


def phase_of(job_state: str, run: RunState | None, file_present: bool) -> tuple[str, str | None]:
    """The surface-independent phase of a job and, for failures, the reason."""
    if job_state == JobState.SUCCEEDED:
        return (SUCCEEDED, None) if file_present else (EXPIRED, None)
    if job_state == JobState.EXPIRED:
        return EXPIRED, None
    if job_state == JobState.FAILED:
        return FAILURE, None
    if job_state == JobState.CANCELLED:
        return CANCEL, "cancelled"
    if run is None:
        return QUEUED, None
    if run.type in (SCHEDULED, PENDING):
        # Late or AwaitingConcurrencySlot only mean no worker has picked it up yet;
        # AwaitingRetry means it already ran and will run again.
        return (WORKING, None) if run.name == "AwaitingRetry" else (QUEUED, None)
    if run.type in (RUNNING, PAUSED):
        return WORKING, None
    if run.type == COMPLETED:
        # The job row turns succeeded only after its file is published; until this
        # process sees that, the job is not done.
        return WORKING, None
    if run.type in (FAILED, CRASHED):
        reason = run.message or ("run crashed" if run.type == CRASHED else "run failed")
        return FAILURE, reason if run.type == FAILED else f"run crashed: {reason}"
    if run.type in (CANCELLING, CANCELLED):
        return CANCEL, "cancelled"
    return WORKING, None


def surface_status(
    surface: str,
    job_state: str,
    run: RunState | None,
    *,
    file_present: bool,
    error_message: str | None = None,
) -> Status:
    """The status a surface shows for a job, with its error message when failed."""
    phase, reason = phase_of(job_state, run, file_present)
    error = None
    if phase in (FAILURE, CANCEL):
        error = error_message or reason or "export failed"
    return Status(SURFACE_STATUS[surface][phase], phase, error)
