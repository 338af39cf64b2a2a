"""The one pure function: job facts + Prefect flow-run state → a surface's status.

The job row is the truth once it is finished (hooks or the reconciler wrote it). While it
is not, the flow run's state decides, so a crashed or cancelled run shows as such even
before anything wrote the row. What a client reads of a failure is the job row's
client-safe message, or a plain one: Prefect's state messages carry exception names and
internal detail, which go to operators (logs, ``error_detail``), never to clients.
"""

from __future__ import annotations

from dataclasses import dataclass

from jobstore.models import JobState
from surfaces.base import Phase, Status, Surface
from surfaces.registry import get_surface

# Prefect StateType values (strings, so this module needs no Prefect import).
SCHEDULED, PENDING, RUNNING, PAUSED = "SCHEDULED", "PENDING", "RUNNING", "PAUSED"
COMPLETED, FAILED, CRASHED = "COMPLETED", "FAILED", "CRASHED"
CANCELLING, CANCELLED = "CANCELLING", "CANCELLED"
TERMINAL_RUN_TYPES = frozenset({COMPLETED, FAILED, CRASHED, CANCELLED})

__all__ = ["RunState", "Status", "phase_of", "surface_status"]

RUN_FAILED = "export failed"
RUN_CRASHED = "run crashed: the export process stopped before it finished"
CANCELLED_REASON = "cancelled"


@dataclass(frozen=True)
class RunState:
    """What Prefect says of the job's flow run (type and name), if it has one."""

    type: str
    name: str = ""
    message: str = ""


def phase_of(job_state: str, run: RunState | None, file_present: bool) -> tuple[Phase, str | None]:
    """The surface-independent phase of a job and, for failures, a client-safe reason."""
    if job_state == JobState.SUCCEEDED:
        return (Phase.SUCCEEDED, None) if file_present else (Phase.EXPIRED, None)
    if job_state == JobState.EXPIRED:
        return Phase.EXPIRED, None
    if job_state == JobState.FAILED:
        return Phase.FAILURE, None
    if job_state == JobState.CANCELLED:
        return Phase.CANCEL, CANCELLED_REASON
    if run is None:
        return Phase.QUEUED, None
    if run.type in (SCHEDULED, PENDING):
        # Late or AwaitingConcurrencySlot only mean no worker has picked it up yet;
        # AwaitingRetry means it already ran and will run again.
        return (Phase.WORKING, None) if run.name == "AwaitingRetry" else (Phase.QUEUED, None)
    if run.type in (RUNNING, PAUSED):
        return Phase.WORKING, None
    if run.type == COMPLETED:
        # The job row turns succeeded only after its file is published; until this
        # process sees that, the job is not done.
        return Phase.WORKING, None
    if run.type == FAILED:
        return Phase.FAILURE, RUN_FAILED
    if run.type == CRASHED:
        return Phase.FAILURE, RUN_CRASHED
    if run.type in (CANCELLING, CANCELLED):
        return Phase.CANCEL, CANCELLED_REASON
    return Phase.WORKING, None


def surface_status(
    surface: Surface | str,
    job_state: str,
    run: RunState | None,
    *,
    file_present: bool,
    error_message: str | None = None,
) -> Status:
    """The status a surface shows for a job, with its error message when failed."""
    declared = get_surface(surface) if isinstance(surface, str) else surface
    phase, reason = phase_of(job_state, run, file_present)
    error = None
    if phase in (Phase.FAILURE, Phase.CANCEL):
        error = error_message or reason or RUN_FAILED
    return Status(declared.word(phase), phase, error)
