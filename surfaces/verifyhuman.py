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
    Phase,
    PlanGate,
    Surface,
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
)
