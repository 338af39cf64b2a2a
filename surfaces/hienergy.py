"""HiEnergy generative exports (``/api/v1/exports``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from catalog.registry import CATALOGS
from report_exports.settings import get_settings
from surfaces.base import (
    AuthScheme,
    DateRangeFields,
    ErrorInfo,
    IdStyle,
    JobShown,
    Phase,
    Surface,
    iso,
)
from surfaces.links import signed_url

DISPLAY = {
    "pending": "Pending",
    "processing": "Processing",
    "completed": "Completed",
    "failed": "Failed",
}


class FieldErrorDetail(BaseModel):
    """HiEnergy's error: code, message and, for bad input, the field at fault."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(examples=["INVALID_REQUEST"])
    message: str = Field(examples=["end_time must be after start_time"])
    field: str | SkipJsonSchema[None] = Field(None, examples=["search_params.min_epc"])


class HiEnergyError(BaseModel):
    """HiEnergy's error body."""

    model_config = ConfigDict(extra="forbid")

    error: FieldErrorDetail


def render_error(error: ErrorInfo, _request_id: str) -> dict[str, Any]:
    """``{"error": {"code", "message", "field"?}}``."""
    detail = FieldErrorDetail(code=error.code, message=error.message, field=error.field)
    return HiEnergyError(error=detail).model_dump(exclude_none=True)


def export_object(shown: JobShown) -> dict[str, Any]:
    """The seed's "Generative export report (chunked Excel/CSV) summary".

    ``download_url`` is signed now (StorageError when storage cannot presign it).
    """
    job, status = shown.job, shown.status
    url, expires_in = signed_url(job) if status.file_available else (None, None)
    return {
        "id": job.id,
        "report_type": job.report_type,
        "display_name": CATALOGS["hienergy"][job.report_type].display_name,
        "status": status.value,
        "status_display": DISPLAY[status.value],
        "parameters": {
            k: v for k, v in job.params.items() if k in ("search_params", "index_params")
        },
        "filename": job.filename,
        "download_url": url,
        "download_expires_in_seconds": expires_in,
        "error_message": status.error,
        "progress": (
            # the seed's two counts, and beside them rows, stage and ETA
            {"parts_ready": job.parts_done, "total_parts": job.parts_total} | dict(shown.progress)
            if job.parts_total
            else None
        ),
        "parent_report_id": None,
        "chunked_export": bool(job.parts_total and job.parts_total > 1),
        "created_at": iso(job.created_at),
        "updated_at": iso(job.updated_at),
        "started_at": iso(job.started_at),
        "completed_at": iso(job.completed_at),
        "status_url": f"{get_settings().base_url}/api/v1/exports/{job.id}",
    }


SURFACE = Surface(
    name="hienergy",
    title="HiEnergy generative exports",
    base_path="/api/v1/exports",
    auth=AuthScheme.X_API_KEY,
    id_style=IdStyle.INTEGER,
    status_words={
        Phase.QUEUED: "pending",
        Phase.WORKING: "processing",
        Phase.SUCCEEDED: "completed",
        Phase.EXPIRED: "completed",  # download_url is then null
        Phase.FAILURE: "failed",
        Phase.CANCEL: "failed",  # error_message says "cancelled"
    },
    error_model=HiEnergyError,
    render_error=render_error,
    date_range=DateRangeFields("from", "to", container=("search_params",)),
    scopes_by_user=True,
    option_fields={"sort": ("index_params", "sort"), "order": ("index_params", "order")},
    description="Affiliate advertisers, deals and clicks as chunked Excel or CSV reports.",
    show_job=export_object,
)
