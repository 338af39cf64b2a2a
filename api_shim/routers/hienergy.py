"""HiEnergy generative exports at /api/v1/exports (X-Api-Key)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, cast

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, WithJsonSchema

from api_shim.deps import HiEnergyPrincipal
from api_shim.downloads import storage_unavailable
from api_shim.errors import error_responses
from api_shim.idempotency import (
    REPLAY_HEADERS,
    IdempotencyKeyHeader,
    idempotency_responses,
    idempotent,
)
from catalog.registry import CATALOGS
from report_exports.settings import get_settings
from submission.service import JobView, list_views, read, submit
from surfaces.base import Phase
from surfaces.hienergy import SURFACE as HIENERGY

SURFACE = HIENERGY.name
router = APIRouter(
    prefix=HIENERGY.base_path,
    tags=["HiEnergy generative exports"],
    responses=error_responses(SURFACE, 400, 401, 503),
)
ReportType = Annotated[str, WithJsonSchema({"type": "string", "enum": list(CATALOGS[SURFACE])})]
"""Every report the catalog offers on HiEnergy (the seed's four, and any a team adds); the
catalog refuses another with the seed's 400 naming ``report_type``."""


def _merged(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """One schema for a key two reports define: enums joined, anything else either one."""
    if first == second:
        return first
    rest = {k: v for k, v in first.items() if k != "enum"}
    if "enum" in first and rest == {k: v for k, v in second.items() if k != "enum"}:
        return {**rest, "enum": list(dict.fromkeys([*first["enum"], *second["enum"]]))}
    return {"anyOf": [first, second]}


def documented_params(part: str, description: str) -> dict[str, Any]:
    """The seed's free-form ``part`` object, with every key some report's model takes.

    Each key as the catalog types and caps it (merged across reports: ``sort`` lists every
    report's columns); the report picked decides which keys it takes, and the catalog
    refuses the others with a 400 naming the key, so the object stays open as the seed has it.
    """
    properties: dict[str, Any] = {}
    for report in CATALOGS[SURFACE].values():
        model = cast(type[BaseModel], report.params_model.model_fields[part].annotation)
        for name, schema in model.model_json_schema(by_alias=True)["properties"].items():
            schema = {k: v for k, v in schema.items() if k not in ("title", "default")}
            properties[name] = _merged(properties[name], schema) if name in properties else schema
    return {
        "type": "object",
        "additionalProperties": True,
        "description": description,
        "properties": properties,
    }


SearchParams = Annotated[
    dict[str, Any],
    WithJsonSchema(
        documented_params("search_params", "Optional search filters mirrored from the /reports UI.")
    ),
]
IndexParams = Annotated[
    dict[str, Any],
    WithJsonSchema(
        documented_params(
            "index_params", "Optional sort/faceting parameters mirrored from the /reports UI."
        )
    ),
]


class CreateExport(BaseModel):
    """Request body of createExportReport."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "report_type": "deals_excel",
                    "search_params": {"category": "Travel"},
                    "index_params": {"sort": "discount_pct", "order": "desc"},
                }
            ]
        },
    )

    report_type: ReportType
    search_params: SearchParams | None = None
    index_params: IndexParams | None = None


def export_object(view: JobView) -> dict[str, Any]:
    """The seed's "Generative export report (chunked Excel/CSV) summary"."""
    with storage_unavailable():
        return HIENERGY.show_job(view.shown())


@router.post(
    "",
    status_code=201,
    operation_id="createExportReport",
    summary="Kick off a generative export report",
    responses={
        200: {
            "description": "An identical completed report (deduped=true)",
            "content": {"application/json": {}},
            "headers": REPLAY_HEADERS,
        },
        201: {"description": "The report, queued", "headers": REPLAY_HEADERS},
        **idempotency_responses(
            SURFACE,
            conflict={
                "description": "An identical report is in flight: it is attached, poll it "
                "(or, in the error shape, a request with the same Idempotency-Key is still "
                "being processed)",
                "content": {"application/json": {}},
                "headers": REPLAY_HEADERS,
            },
        ),
        **error_responses(SURFACE, 413),
    },
)
async def create(
    body: CreateExport,
    request: Request,
    principal: HiEnergyPrincipal,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    """Queue an export; identical requests are answered by the existing report."""

    async def run() -> tuple[JSONResponse, int]:
        params = {
            "search_params": body.search_params or {},
            "index_params": body.index_params or {},
        }
        window = timedelta(seconds=get_settings().dedupe_window_seconds)
        view, created = await submit(
            principal, HIENERGY, body.report_type, None, params, reuse_completed_for=window
        )
        if created:
            status, deduped = 201, False
        elif view.status.phase == Phase.SUCCEEDED:
            status, deduped = 200, True
        else:
            status, deduped = 409, False
        answer = {"export": export_object(view), "deduped": deduped}
        return JSONResponse(answer, status_code=status), view.job.id

    return await idempotent(request, principal, HIENERGY, idempotency_key, run)


@router.get(
    "",
    operation_id="listExportReports",
    summary="List the caller's recent generative export reports",
)
async def list_exports(
    principal: HiEnergyPrincipal, limit: int = Query(20, ge=1, le=100)
) -> dict[str, Any]:
    """Newest first; admins see their account's reports, others their own."""
    found, _ = await list_views(principal, HIENERGY, limit=limit)
    exports = [export_object(v) for v in found]
    return {"exports": exports, "meta": {"count": len(exports), "limit": limit}}


@router.get(
    "/{job_id}",
    operation_id="getExportReport",
    summary="Fetch a single export report's status and download URL",
    responses=error_responses(SURFACE, 404),
)
async def get_export(job_id: int, principal: HiEnergyPrincipal) -> dict[str, Any]:
    """The report; 404 when it is not in the caller's scope."""
    return {"export": export_object(await read(principal, HIENERGY, job_id=job_id))}
