"""VerifyHuman Report Exports API 2.1.0 at /api/reports/exports."""

from __future__ import annotations

import math
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from api_shim.deps import VerifyHumanPrincipal
from api_shim.downloads import Conditions, file_response, file_responses
from api_shim.errors import ApiError, error_responses
from api_shim.idempotency import (
    REPLAY_HEADERS,
    IdempotencyKeyHeader,
    idempotency_responses,
    idempotent,
)
from catalog.fields import DATE_SCHEMA
from catalog.registry import CATALOGS
from catalog.verifyhuman import FORMATS
from catalog.verifyhuman_params import VerifyHumanParams
from jobstore.accounts import Principal
from submission.service import JobView, cancel_queued, list_views, read, submit
from surfaces.base import PlanGate
from surfaces.verifyhuman import SURFACE as VERIFYHUMAN
from surfaces.verifyhuman import summary

SURFACE = VERIFYHUMAN.name
assert VERIFYHUMAN.plan_gate is not None
PLAN_GATE: PlanGate = VERIFYHUMAN.plan_gate
PLAN_REQUIRED = PLAN_GATE.refused_message
router = APIRouter(
    prefix=VERIFYHUMAN.base_path,
    tags=["VerifyHuman report exports"],
    responses=error_responses(
        SURFACE,
        400,
        401,
        403,
        404,
        503,
        described={
            403: PLAN_REQUIRED,
            404: "Export job not found (or report exports are not enabled)",
        },
    ),
)


# The schema says what the catalog takes; the catalog and create() check it, with the
# seed's messages ("Invalid report_type. Must be one of: ..."), so these stay plain str.
ReportTypeText = Annotated[str, WithJsonSchema({"type": "string", "enum": list(CATALOGS[SURFACE])})]
FormatText = Annotated[str, WithJsonSchema({"type": "string", "enum": list(FORMATS)})]
EnvText = Annotated[
    str,
    WithJsonSchema(
        {"type": "string", "enum": list(get_args(VerifyHumanParams.model_fields["env"].annotation))}
    ),
]
DateText = Annotated[str, WithJsonSchema(DATE_SCHEMA)]


class CreateExport(BaseModel):
    """Request body of POST /api/reports/exports."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={  # the seed's request body
            "examples": [
                {
                    "report_type": "overview",
                    "format": "pdf",
                    "env": "live",
                    "from": "2025-12-01",
                    "to": "2025-12-31",
                }
            ]
        },
    )

    report_type: ReportTypeText
    format: FormatText = "pdf"
    env: EnvText
    from_: DateText = Field(alias="from", description="Start date YYYY-MM-DD")
    to: DateText = Field(description="End date YYYY-MM-DD")


def _require_plan(principal: Principal) -> None:
    PLAN_GATE.require(principal.plan)


def _summary(view: JobView) -> dict[str, Any]:
    return summary(view.shown())


def _detail(view: JobView) -> dict[str, Any]:
    return VERIFYHUMAN.show_job(view.shown())


@router.post(
    "",
    status_code=201,
    summary="Create a new export job",
    responses={201: {"description": "The job, queued", "headers": REPLAY_HEADERS}}
    | idempotency_responses(SURFACE)
    | error_responses(SURFACE, 413),
)
async def create(
    body: CreateExport,
    request: Request,
    principal: VerifyHumanPrincipal,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    """Create a new export job (PDF or CSV) for a date range and environment."""

    async def run() -> tuple[JSONResponse, int]:
        _require_plan(principal)
        if body.format not in FORMATS:
            raise ApiError(
                400, f"Invalid format. Must be one of: {', '.join(FORMATS)}", field="format"
            )
        params = {"env": body.env, "from": body.from_, "to": body.to}
        view, _created = await submit(principal, VERIFYHUMAN, body.report_type, body.format, params)
        out = _detail(view)
        keep = ("id", "report_type", "format", "status", "params", "created_at")
        return JSONResponse({k: out[k] for k in keep if k in out}, status_code=201), view.job.id

    return await idempotent(request, principal, VERIFYHUMAN, idempotency_key, run)


@router.get("", summary="List your export jobs")
async def list_exports(
    principal: VerifyHumanPrincipal,
    page: int = Query(1, ge=1, le=100_000),
    per_page: int = Query(20, ge=1, le=100),
) -> dict[str, Any]:
    """Your account's export jobs, newest first, paginated."""
    _require_plan(principal)
    found, total = await list_views(
        principal, VERIFYHUMAN, limit=per_page, offset=(page - 1) * per_page
    )
    return {
        "exports": [_summary(v) for v in found],
        "total": total,
        "page": page,
        "pages": max(1, math.ceil(total / per_page)),
    }


@router.get("/{job_id}", summary="Get the status of a specific export job")
async def get_export(job_id: int, principal: VerifyHumanPrincipal) -> dict[str, Any]:
    """The job's status, params and, when it succeeded, its download URL."""
    _require_plan(principal)
    return _detail(await read(principal, VERIFYHUMAN, job_id=job_id))


@router.get(
    "/{job_id}/download",
    summary="Download a completed export file",
    response_class=StreamingResponse,
    responses=file_responses(*FORMATS)
    | error_responses(
        SURFACE,
        400,
        404,
        416,
        described={
            400: "Export is not ready yet, or the id is not an integer",
            404: "Export job, or its file, not found or expired",
        },
    ),
)
async def download(job_id: int, principal: VerifyHumanPrincipal, asked: Conditions) -> Response:
    """The file of a succeeded job; 404 once it is past retention."""
    _require_plan(principal)
    view = await read(principal, VERIFYHUMAN, job_id=job_id)
    if not view.status.finished:
        raise ApiError(400, f"Export is not ready yet (status: {view.status.value})")
    if not view.status.file_available:
        raise ApiError(404, "Export file not found or expired")
    return file_response(view.job, asked)


@router.delete("/{job_id}", summary="Cancel a queued export job")
async def cancel(job_id: int, principal: VerifyHumanPrincipal) -> dict[str, Any]:
    """Cancel a job that has not started; running or finished jobs are refused (400)."""
    _require_plan(principal)
    await cancel_queued(principal, VERIFYHUMAN, job_id=job_id)
    return {"message": "Export job cancelled", "id": job_id}
