"""Webhook endpoints of the account at /account/v1/webhook-endpoints (Bearer admin key).

The server makes each endpoint's signing secret and shows it once (on create and on
rotate-secret); rotating keeps the old secret signing beside the new one for the overlap
the answer states (``previous_secret_expires_at``). Errors come in the webhook surface's
envelope.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from api_shim.deps import AccountAdmin
from api_shim.errors import data_envelope, error_responses
from api_shim.routers.account import PREFIX
from jobstore.store import job_engine
from jobstore.webhooks import (
    EVENTS,
    deliveries_of,
    enable_endpoint,
    get_endpoint,
    list_endpoints,
    remove_endpoint,
    rotate_secret,
)
from report_exports.settings import get_settings
from submission.service import blocking
from submission.webhooks import (
    MAX_DESCRIPTION_CHARS,
    MAX_URL_CHARS,
    delivery_json,
    endpoint_json,
    register,
)

SHAPE = "webhooks"
MAX_OVERLAP_SECONDS = 7 * 86_400
router = APIRouter(
    prefix=f"{PREFIX}/webhook-endpoints",
    tags=["Account: webhook endpoints"],
    responses=error_responses(SHAPE, 400, 401, 403, 503),
)
EventName = Annotated[str, WithJsonSchema({"type": "string", "enum": list(EVENTS)})]


class CreateEndpoint(BaseModel):
    """Request body of POST /account/v1/webhook-endpoints."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": "https://hooks.example.com/report-exports",
                    "events": ["export.succeeded", "export.failed"],
                    "description": "Our warehouse loader",
                }
            ]
        },
    )

    url: str = Field(max_length=MAX_URL_CHARS, description="https:// URL that receives events")
    events: list[EventName] = Field(min_length=1, max_length=len(EVENTS))
    description: str = Field("", max_length=MAX_DESCRIPTION_CHARS)


class RotateSecret(BaseModel):
    """Request body of rotate-secret (optional)."""

    model_config = ConfigDict(extra="forbid")

    overlap_seconds: int | None = Field(
        None,
        ge=0,
        le=MAX_OVERLAP_SECONDS,
        description="How long the old secret keeps signing (default: the server's setting)",
    )


class Endpoint(BaseModel):
    """A webhook endpoint (``secret`` only in the answers of create and rotate-secret)."""

    id: str = Field(examples=["we_0f8e3c2a9b1d4e5f8a7b6c5d4e3f2a1b"])
    url: str
    events: list[EventName]
    description: str
    enabled: bool
    disabled_at: str | None = Field(json_schema_extra={"format": "date-time"})
    disabled_reason: str | None
    failing_since: str | None = Field(json_schema_extra={"format": "date-time"})
    previous_secret_expires_at: str | None = Field(json_schema_extra={"format": "date-time"})
    created_at: str = Field(json_schema_extra={"format": "date-time"})
    secret: str | None = Field(None, description="Shown once: store it to verify signatures")


class AttemptEntry(BaseModel):
    """One attempt of a delivery."""

    at: str
    status_code: int | None
    error: str | None
    duration_ms: int


class Delivery(BaseModel):
    """One event sent (or being sent) to the endpoint, with every attempt."""

    id: str = Field(description="The Report-Exports-Delivery header: dedupe on it")
    event_id: str
    event: EventName
    export_job_id: int
    state: str = Field(json_schema_extra={"enum": ["pending", "succeeded", "failed"]})
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: str | None
    created_at: str
    delivered_at: str | None
    attempt_log: list[AttemptEntry]


class Meta(BaseModel):
    """The envelope's meta."""

    request_id: str


class EndpointEnvelope(BaseModel):
    """``{"data": endpoint, "meta": {...}}``."""

    data: Endpoint
    meta: Meta


class EndpointList(BaseModel):
    """``{"data": [endpoint, ...], "meta": {...}}``."""

    data: list[Endpoint]
    meta: Meta


class DeliveryList(BaseModel):
    """``{"data": [delivery, ...], "meta": {...}}``, newest first."""

    data: list[Delivery]
    meta: Meta


class Removed(BaseModel):
    """What a delete answers."""

    id: str
    deleted: bool


class RemovedEnvelope(BaseModel):
    """``{"data": {"id", "deleted": true}, "meta": {...}}``."""

    data: Removed
    meta: Meta


NOT_FOUND = error_responses(SHAPE, 404, described={404: "No such endpoint on this account"})


@router.post(
    "",
    status_code=201,
    summary="Register a webhook endpoint (its secret is shown once)",
    response_model=EndpointEnvelope,
    responses=error_responses(SHAPE, 413),
)
async def create(body: CreateEndpoint, request: Request, principal: AccountAdmin) -> JSONResponse:
    """Check the URL (https, a public address) and the events; make the signing secret."""
    endpoint = await blocking(
        register,
        job_engine(),
        principal.account_id,
        url=body.url,
        events=list(body.events),
        description=body.description,
    )
    return data_envelope(request, endpoint_json(endpoint, with_secret=True), 201)


@router.get("", summary="List the account's webhook endpoints", response_model=EndpointList)
async def list_all(request: Request, principal: AccountAdmin) -> JSONResponse:
    """Every endpoint of the account, oldest first (no secrets)."""
    found = await blocking(list_endpoints, job_engine(), principal.account_id)
    return data_envelope(request, [endpoint_json(e) for e in found])


@router.get(
    "/{endpoint_id}",
    summary="Get a webhook endpoint",
    response_model=EndpointEnvelope,
    responses=NOT_FOUND,
)
async def get_one(endpoint_id: str, request: Request, principal: AccountAdmin) -> JSONResponse:
    """One endpoint: its events, whether it is enabled and, if not, why."""
    endpoint = await blocking(get_endpoint, job_engine(), principal.account_id, endpoint_id)
    return data_envelope(request, endpoint_json(endpoint))


@router.delete(
    "/{endpoint_id}",
    summary="Remove a webhook endpoint",
    response_model=RemovedEnvelope,
    responses=NOT_FOUND,
)
async def remove(endpoint_id: str, request: Request, principal: AccountAdmin) -> JSONResponse:
    """Nothing more is sent to it; its delivery log goes with it."""
    await blocking(remove_endpoint, job_engine(), principal.account_id, endpoint_id)
    return data_envelope(request, {"id": endpoint_id, "deleted": True})


@router.post(
    "/{endpoint_id}/rotate-secret",
    summary="Make a new signing secret (the old one signs too, for the overlap)",
    response_model=EndpointEnvelope,
    responses=NOT_FOUND | error_responses(SHAPE, 413),
)
async def rotate(
    endpoint_id: str,
    request: Request,
    principal: AccountAdmin,
    body: RotateSecret | None = None,
) -> JSONResponse:
    """The new secret, shown once; ``previous_secret_expires_at`` ends the overlap."""
    seconds = body.overlap_seconds if body else None
    if seconds is None:
        seconds = get_settings().webhook_secret_overlap_seconds
    endpoint = await blocking(
        rotate_secret,
        job_engine(),
        principal.account_id,
        endpoint_id,
        overlap=timedelta(seconds=seconds),
    )
    return data_envelope(request, endpoint_json(endpoint, with_secret=True))


@router.post(
    "/{endpoint_id}/enable",
    summary="Enable a disabled webhook endpoint again",
    response_model=EndpointEnvelope,
    responses=NOT_FOUND,
)
async def enable(endpoint_id: str, request: Request, principal: AccountAdmin) -> JSONResponse:
    """Events from now on are delivered to it again."""
    endpoint = await blocking(enable_endpoint, job_engine(), principal.account_id, endpoint_id)
    return data_envelope(request, endpoint_json(endpoint))


@router.get(
    "/{endpoint_id}/deliveries",
    summary="The delivery log of a webhook endpoint",
    response_model=DeliveryList,
    responses=NOT_FOUND,
)
async def deliveries(
    endpoint_id: str,
    request: Request,
    principal: AccountAdmin,
    limit: int = Query(50, ge=1, le=200),
) -> JSONResponse:
    """Newest first: attempts, response codes, the next try of each pending delivery."""
    found = await blocking(
        deliveries_of, job_engine(), principal.account_id, endpoint_id, limit=limit
    )
    return data_envelope(request, [delivery_json(d) for d in found])
