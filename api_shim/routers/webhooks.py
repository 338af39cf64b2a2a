"""Webhook message-log exports at /v1/exports (Authorization: Bearer)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, WithJsonSchema

from api_shim.deps import WebhooksPrincipal
from api_shim.downloads import Conditions, file_response, file_responses
from api_shim.errors import ApiError, data_envelope, error_responses
from api_shim.idempotency import (
    REPLAY_HEADERS,
    IdempotencyKeyHeader,
    idempotency_responses,
    idempotent,
)
from catalog.fields import TIMESTAMP_SCHEMA
from jobstore.accounts import Principal
from submission.service import JobView, list_views, read, submit
from surfaces.webhooks import SURFACE as WEBHOOKS

SURFACE = WEBHOOKS.name
router = APIRouter(
    prefix=WEBHOOKS.base_path,
    tags=["Webhook message-log exports"],
    responses=error_responses(SURFACE, 400, 401, 503),
)
REPORT = "message-log"


# The catalog parses these (its messages name the field); the schema says what it takes.
TimestampText = Annotated[str, WithJsonSchema(TIMESTAMP_SCHEMA)]
UUID_MAX_CHARS = len("urn:uuid:") + 36
"""The longest form a UUID is read in (urn:uuid:…; braces and bare hex are shorter)."""
UuidText = Annotated[
    str, WithJsonSchema({"type": "string", "format": "uuid", "maxLength": UUID_MAX_CHARS})
]
ExportId = Annotated[str, Path(json_schema_extra={"format": "uuid"})]
"""A path's export id: parsed by ``_public_id``, so a bad one is the seed's 400, not a 422."""


class CreateExport(BaseModel):
    """Request body of POST /v1/exports."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={  # the filters of the seed's example export
            "examples": [
                {
                    "start_time": "2025-12-01T00:00:00Z",
                    "end_time": "2025-12-06T23:59:59Z",
                    "status": "failed_permanent",
                }
            ]
        },
    )

    start_time: TimestampText
    end_time: TimestampText
    status: Literal["pending", "delivered", "retrying", "failed", "failed_permanent"] | None = None
    endpoint_id: UuidText | None = None
    inbound_endpoint_id: UuidText | None = None
    direction: Literal["outbound", "inbound"] | None = None


def export_object(view: JobView, principal: Principal) -> dict[str, Any]:
    """The seed's export object (filters as ``filter_*``)."""
    return WEBHOOKS.show_job(view.shown(principal.project_id))


def _public_id(raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise ApiError(400, "id must be a valid UUID", field="id") from None


@router.post(
    "",
    status_code=201,
    summary="Create an export of webhook messages",
    responses={
        200: {
            "description": "An identical export already exists: that export",
            "content": {"application/json": {}},
            "headers": REPLAY_HEADERS,
        },
        201: {"description": "The export, queued", "headers": REPLAY_HEADERS},
        **idempotency_responses(SURFACE),
        **error_responses(SURFACE, 413),
    },
)
async def create(
    body: CreateExport,
    request: Request,
    principal: WebhooksPrincipal,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    """Queue a CSV export of the project's messages in a time range."""

    async def run() -> tuple[JSONResponse, int]:
        params = body.model_dump(exclude_none=True)
        view, created = await submit(principal, WEBHOOKS, REPORT, "csv", params)
        data = export_object(view, principal)
        return data_envelope(request, data, 201 if created else 200), view.job.id

    return await idempotent(request, principal, WEBHOOKS, idempotency_key, run)


@router.get("", summary="List exports")
async def list_exports(
    request: Request, principal: WebhooksPrincipal, limit: int = Query(20, ge=1, le=100)
) -> JSONResponse:
    """The project's exports, newest first."""
    found, _ = await list_views(principal, WEBHOOKS, limit=limit)
    return data_envelope(request, [export_object(v, principal) for v in found])


@router.get("/{export_id}", summary="Get export", responses=error_responses(SURFACE, 404))
async def get_export(
    export_id: ExportId, request: Request, principal: WebhooksPrincipal
) -> JSONResponse:
    """Status, row count and file size of one export."""
    view = await read(principal, WEBHOOKS, public_id=_public_id(export_id))
    return data_envelope(request, export_object(view, principal))


@router.get(
    "/{export_id}/download",
    summary="Download an export's CSV",
    response_class=StreamingResponse,
    responses=file_responses("csv")
    | error_responses(
        SURFACE,
        404,
        409,
        416,
        described={
            404: "Export not found, or its file expired",
            409: "Export is not ready yet",
        },
    ),
)
async def download(
    export_id: ExportId, principal: WebhooksPrincipal, asked: Conditions
) -> Response:
    """The CSV of a completed export; 404 once it has expired."""
    view = await read(principal, WEBHOOKS, public_id=_public_id(export_id))
    if not view.status.finished:
        raise ApiError(409, f"Export is not ready yet (status: {view.status.value})")
    if not view.status.file_available:
        raise ApiError(404, "Export file not found or expired")
    return file_response(view.job, asked)
