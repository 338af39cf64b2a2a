"""HiEnergy generative exports (``/api/v1/exports``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from surfaces.base import AuthScheme, DateRangeFields, ErrorInfo, IdStyle, Phase, Surface


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
)
