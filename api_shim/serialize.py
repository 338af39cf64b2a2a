"""Small serialisation helpers shared by the surfaces."""

from __future__ import annotations

from datetime import UTC, datetime

from submission.progress import job_progress
from submission.service import JobView
from surfaces.base import Phase


def iso(value: datetime | None) -> str | None:
    """``2025-12-31T10:00:00Z`` (seconds, UTC) or None."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def progress_fields(view: JobView) -> dict[str, float | str | None]:
    """``rows_done``, ``rows_estimated``, ``stage`` and ``eta_seconds`` of a job, now."""
    working = view.status.phase == Phase.WORKING
    return job_progress(view.job, datetime.now(UTC), working=working).as_json()
