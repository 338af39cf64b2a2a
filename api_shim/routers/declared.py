"""The router of a surface that declares itself only as data (``surfaces.base.Surface``).

The three seed surfaces have routers of their own (their documents fix every field). A
surface added by ``REPORT_EXPORTS_SURFACE_MODULES`` gets this one, built from its
declaration: its base path, its way of sending keys, its id style and status words, its
error shape, its report catalog and plan gate. Create, list, read, download and cancel:

- ``POST {base}``: ``{"report_type", "format"?, ...filters}`` (the report's own filters,
  the range where the surface's ``date_range`` keeps it) → 201 ``{"export": …}``, or 200
  with the identical export already made.
- ``GET {base}`` → ``{"exports": […], "total"}``; ``GET {base}/{id}`` → ``{"export": …}``.
- ``GET {base}/{id}/download`` → the file; ``DELETE {base}/{id}`` cancels a queued export.
"""

# No ``from __future__ import annotations``: FastAPI resolves the endpoints' annotations,
# and these name classes made inside ``router_for``, which string annotations cannot reach.

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, WithJsonSchema

from api_shim.deps import principal_of
from api_shim.downloads import Conditions, file_response, file_responses, signed_url
from api_shim.errors import ApiError, error_responses
from api_shim.serialize import iso
from catalog.registry import CATALOGS, FORMATS
from jobstore.accounts import Principal
from submission.service import JobView, cancel_queued, list_views, read, submit
from surfaces.base import IdStyle, Phase, Surface

BUILT_IN = frozenset({"verifyhuman", "hienergy", "webhooks"})
"""Surfaces whose routers are written out (api_shim/routers/<name>.py)."""


def export_object(view: JobView) -> dict[str, Any]:
    """A job as a declared surface shows it: its own id style and status words."""
    job, status, surface = view.job, view.status, view.surface
    url, expires_in = signed_url(job) if status.file_available else (None, None)
    done = status.phase in (Phase.SUCCEEDED, Phase.EXPIRED)
    return {
        "id": job.public_id if surface.id_style == IdStyle.UUID7 else job.id,
        "report_type": job.report_type,
        "format": job.format,
        "status": status.value,
        "parameters": job.params,
        "row_count": job.row_count if done else None,
        "file_size_bytes": job.file_size_bytes if done else None,
        "download_url": url,
        "download_expires_in_seconds": expires_in,
        "error_message": status.error,
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "completed_at": iso(job.completed_at),
    }


def router_for(surface: Surface) -> APIRouter:
    """Create, list, read, download and cancel on ``surface.base_path``."""
    router = APIRouter(
        prefix=surface.base_path.rstrip("/"),
        tags=[surface.title],
        responses=error_responses(surface.name, 400, 401, 403, 503),
    )
    Caller = Annotated[Principal, Depends(principal_of(surface))]
    reports = list(CATALOGS.get(surface.name, {}))
    uuid_ids = surface.id_style == IdStyle.UUID7

    class CreateExport(BaseModel):
        model_config = ConfigDict(extra="allow")  # the report's filters, checked by it
        report_type: Annotated[str, WithJsonSchema({"type": "string", "enum": reports})]
        format: Annotated[str | None, WithJsonSchema({"type": "string", "enum": list(FORMATS)})] = (
            None
        )

    CreateExport.__name__ = f"{surface.name.capitalize()}CreateExport"

    def ids(raw: str) -> dict[str, Any]:
        if uuid_ids:
            try:
                return {"public_id": str(uuid.UUID(raw))}
            except ValueError:
                raise ApiError(400, "id must be a valid UUID", field="id") from None
        if not raw.isdigit() or len(raw) > 18:
            raise ApiError(400, "id must be a positive integer", field="id")
        return {"job_id": int(raw)}

    @router.post("", status_code=201, summary=f"Create a {surface.title} export")
    async def create(body: CreateExport, principal: Caller) -> JSONResponse:
        filters = dict(body.model_extra or {})
        view, created = await submit(principal, surface, body.report_type, body.format, filters)
        return JSONResponse({"export": export_object(view)}, status_code=201 if created else 200)

    @router.get("", summary="List exports, newest first")
    async def list_exports(
        principal: Caller,
        limit: int = Query(20, ge=1, le=100),
        offset: int = Query(0, ge=0, le=1_000_000),
    ) -> dict[str, Any]:
        found, total = await list_views(principal, surface, limit=limit, offset=offset)
        return {"exports": [export_object(v) for v in found], "total": total}

    @router.get(
        "/{export_id}", summary="Get an export", responses=error_responses(surface.name, 404)
    )
    async def get_export(export_id: str, principal: Caller) -> dict[str, Any]:
        return {"export": export_object(await read(principal, surface, **ids(export_id)))}

    @router.get(
        "/{export_id}/download",
        summary="Download an export's file",
        response_class=StreamingResponse,
        responses=file_responses(*FORMATS) | error_responses(surface.name, 404, 409, 416),
    )
    async def download(export_id: str, principal: Caller, asked: Conditions) -> Response:
        view = await read(principal, surface, **ids(export_id))
        if not view.status.finished:
            raise ApiError(409, f"Export is not ready yet (status: {view.status.value})")
        if not view.status.file_available:
            raise ApiError(404, "Export file not found or expired")
        return file_response(view.job, asked)

    @router.delete(
        "/{export_id}",
        summary="Cancel a queued export",
        responses=error_responses(surface.name, 404),
    )
    async def cancel(export_id: str, principal: Caller) -> dict[str, Any]:
        view = await cancel_queued(principal, surface, **ids(export_id))
        return {"export": export_object(view)}

    return router
