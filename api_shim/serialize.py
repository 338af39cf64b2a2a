"""Small serialisation helpers shared by the surfaces (declared in ``surfaces.base``)."""

from __future__ import annotations

from submission.service import JobView
from surfaces.base import iso

__all__ = ["iso", "progress_fields"]


def progress_fields(view: JobView) -> dict[str, float | str | None]:
    """``rows_done``, ``rows_estimated``, ``stage`` and ``eta_seconds`` of a job, now."""
    return view.progress()
