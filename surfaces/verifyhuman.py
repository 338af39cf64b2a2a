"""VerifyHuman Report Exports API 2.1.0 (``/api/reports/exports``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from catalog.fields import parse_date
from report_exports.settings import Settings
from surfaces.base import (
    AuthScheme,
    DateRangeFields,
    ErrorInfo,
    IdStyle,
    JobShown,
    Phase,
    PlanGate,
    Surface,
    iso,
)


class VerifyHumanError(BaseModel):
    """VerifyHuman's error body."""

    model_config = ConfigDict(extra="forbid")

    error: str = Field(description="What went wrong", examples=["Export job not found"])
    field: str | SkipJsonSchema[None] = Field(None, description="The request field at fault")


def render_error(error: ErrorInfo, _request_id: str) -> dict[str, Any]:
    """``{"error": message, "field"?: name}``."""
    return VerifyHumanError(error=error.message, field=error.field).model_dump(exclude_none=True)


def range_days(params: dict[str, Any]) -> int | None:
    """Days from ``from`` through ``to``, both included; None when either is malformed.

    Read as validation reads them (``date.fromisoformat`` alone takes "20250101"); a
    malformed date is reported by validation, field by field.
    """
    try:
        return (parse_date(params["to"]) - parse_date(params["from"])).days + 1
    except (KeyError, ValueError):
        return None


def summary(shown: JobShown) -> dict[str, Any]:
    """A job in the list of exports."""
    job = shown.job
    out: dict[str, Any] = {
        "id": job.id,
        "report_type": job.report_type,
        "format": job.format,
        "status": shown.status.value,
    }
    if shown.status.phase in (Phase.SUCCEEDED, Phase.EXPIRED):
        out["file_size_bytes"] = job.file_size_bytes
    out["created_at"] = iso(job.created_at)
    if job.completed_at is not None:
        out["completed_at"] = iso(job.completed_at)
    return out


DETAIL_KEYS = (
    "id",
    "report_type",
    "format",
    "status",
    "params",
    "file_size_bytes",
    "created_at",
    "completed_at",
    "error",
    "progress",
    "download_url",
)


def detail(shown: JobShown) -> dict[str, Any]:
    """A job as GET /api/reports/exports/{id} shows it."""
    job, status = shown.job, shown.status
    out = summary(shown)
    out["params"] = {k: job.params.get(k) for k in ("env", "from", "to")}
    if status.error:
        out["error"] = status.error
    if job.parts_total or status.phase == Phase.WORKING:
        out["progress"] = {
            "parts_done": job.parts_done,
            "parts_total": job.parts_total,
            **shown.progress,
        }
    if status.file_available:
        out["download_url"] = f"/api/reports/exports/{job.id}/download"
    return {k: out[k] for k in DETAIL_KEYS if k in out}


def _enabled(settings: Settings) -> bool:
    return settings.enabled


SURFACE = Surface(
    name="verifyhuman",
    title="VerifyHuman report exports",
    base_path="/api/reports/exports",
    auth=AuthScheme.BEARER_OR_X_API_KEY,
    id_style=IdStyle.INTEGER,
    status_words={
        Phase.QUEUED: "queued",
        Phase.WORKING: "running",
        Phase.SUCCEEDED: "succeeded",
        Phase.EXPIRED: "succeeded",  # the download then answers "not found or expired"
        Phase.FAILURE: "failed",
        Phase.CANCEL: "cancelled",
    },
    error_model=VerifyHumanError,
    render_error=render_error,
    date_range=DateRangeFields("from", "to"),
    plan_gate=PlanGate(
        allowed_plans=frozenset({"growth", "pro", "enterprise"}),
        refused_message="Export functionality requires Growth plan or higher",
        max_range_days={"growth": 93, "pro": 366, "enterprise": 1096},
    ),
    range_days=range_days,
    option_fields={"env": ("env",)},
    enabled=_enabled,
    disabled_message="Report exports are not enabled",
    description="Verification analytics as PDF summaries or CSV data.",
    show_job=detail,
)
