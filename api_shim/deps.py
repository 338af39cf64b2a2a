"""Dependency aliases: who is calling, per surface (each has its own way to send a key)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header
from starlette.concurrency import run_in_threadpool

from api_shim.errors import ApiError
from jobstore.accounts import Principal, authenticate
from jobstore.store import job_engine
from report_exports.settings import get_settings

UNAUTHORIZED = "Invalid or missing API key"


def _bearer(authorization: str | None) -> str | None:
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return None


async def _principal(key: str | None) -> Principal:
    principal = await run_in_threadpool(authenticate, job_engine(), key)
    if principal is None:
        raise ApiError(401, UNAUTHORIZED, code="UNAUTHORIZED")
    return principal


async def verifyhuman_principal(
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> Principal:
    """VerifyHuman: the dashboard session's API key, as a Bearer token or X-Api-Key."""
    if not get_settings().enabled:
        raise ApiError(404, "Report exports are not enabled")
    return await _principal(_bearer(authorization) or x_api_key)


async def hienergy_principal(x_api_key: Annotated[str | None, Header()] = None) -> Principal:
    """HiEnergy: ``X-Api-Key``."""
    return await _principal(x_api_key)


async def webhooks_principal(authorization: Annotated[str | None, Header()] = None) -> Principal:
    """Webhooks: ``Authorization: Bearer <key>``."""
    return await _principal(_bearer(authorization))


VerifyHumanPrincipal = Annotated[Principal, Depends(verifyhuman_principal)]
HiEnergyPrincipal = Annotated[Principal, Depends(hienergy_principal)]
WebhooksPrincipal = Annotated[Principal, Depends(webhooks_principal)]
