"""Webhook message-log exports (``/v1/exports``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

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


class ErrorDetail(BaseModel):
    """A machine-readable code and a human-readable message."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(examples=["INVALID_REQUEST"])
    message: str = Field(examples=["end_time must be after start_time"])


class RequestMeta(BaseModel):
    """Webhooks' ``meta``."""

    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(
        description="Unique identifier for this request (useful for support)",
        examples=["req_xyz123"],
    )


class WebhooksError(BaseModel):
    """The webhook API's error body."""

    model_config = ConfigDict(extra="forbid")

    error: ErrorDetail
    meta: RequestMeta


def render_error(error: ErrorInfo, request_id: str) -> dict[str, Any]:
    """``{"error": {"code", "message"}, "meta": {"request_id"}}``."""
    return WebhooksError(
        error=ErrorDetail(code=error.code, message=error.message),
        meta=RequestMeta(request_id=request_id),
    ).model_dump()


def export_object(shown: JobShown) -> dict[str, Any]:
    """The seed's export object (filters as ``filter_*``)."""
    job, params = shown.job, shown.job.params
    done = shown.status.phase in (Phase.SUCCEEDED, Phase.EXPIRED)
    return {
        "id": job.public_id,
        "project_id": shown.project_id,
        "status": shown.status.value,
        "filter_start_time": params.get("start_time"),
        "filter_end_time": params.get("end_time"),
        "filter_status": params.get("status"),
        "filter_endpoint_id": params.get("endpoint_id"),
        "filter_inbound_endpoint_id": params.get("inbound_endpoint_id"),
        "direction": params.get("direction"),
        "row_count": job.row_count if done else None,
        "file_size_bytes": job.file_size_bytes if done else None,
        "error": shown.status.error,
        "started_at": iso(job.started_at),
        "completed_at": iso(job.completed_at),
        "expires_at": iso(job.expires_at),
        "created_at": iso(job.created_at),
        "progress": dict(shown.progress),  # not in the seed: rows, stage and ETA
    }


SURFACE = Surface(
    name="webhooks",
    title="Webhook message-log exports",
    base_path="/v1/exports",
    auth=AuthScheme.BEARER,
    id_style=IdStyle.UUID7,
    status_words={
        Phase.QUEUED: "pending",
        Phase.WORKING: "processing",
        Phase.SUCCEEDED: "completed",
        Phase.EXPIRED: "expired",
        Phase.FAILURE: "failed",
        Phase.CANCEL: "failed",
    },
    error_model=WebhooksError,
    render_error=render_error,
    date_range=DateRangeFields("start_time", "end_time", kind="datetime"),
    default_format="csv",
    description="A project's webhook message log as CSV.",
    show_job=export_object,
)
