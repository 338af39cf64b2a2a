"""Dependency aliases: who is calling, read the way each surface sends its key."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Header
from starlette.concurrency import run_in_threadpool

from api_shim.errors import ApiError
from jobstore.accounts import Principal, authenticate
from jobstore.store import job_engine
from report_exports.settings import get_settings
from surfaces.base import AuthScheme, Surface
from surfaces.registry import get_surface

UNAUTHORIZED = "Invalid or missing API key"


def _bearer(authorization: str | None) -> str | None:
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return None


async def _principal(surface: Surface, key: str | None) -> Principal:
    if not surface.enabled(get_settings()):
        raise ApiError(404, surface.disabled_message)
    principal = await run_in_threadpool(authenticate, job_engine(), key)
    if principal is None:
        raise ApiError(401, UNAUTHORIZED, code="UNAUTHORIZED")
    return principal


def principal_of(surface: Surface) -> Callable[..., Awaitable[Principal]]:
    """A dependency that authenticates the caller the way ``surface`` declares."""
    if surface.auth == AuthScheme.X_API_KEY:

        async def by_api_key(x_api_key: Annotated[str | None, Header()] = None) -> Principal:
            """``X-Api-Key``."""
            return await _principal(surface, x_api_key)

        return by_api_key
    if surface.auth == AuthScheme.BEARER:

        async def by_bearer(authorization: Annotated[str | None, Header()] = None) -> Principal:
            """``Authorization: Bearer <key>``."""
            return await _principal(surface, _bearer(authorization))

        return by_bearer

    async def by_either(
        authorization: Annotated[str | None, Header()] = None,
        x_api_key: Annotated[str | None, Header()] = None,
    ) -> Principal:
        """A Bearer token or ``X-Api-Key``."""
        return await _principal(surface, _bearer(authorization) or x_api_key)

    return by_either


async def account_admin(authorization: Annotated[str | None, Header()] = None) -> Principal:
    """The account API's caller: ``Authorization: Bearer <admin key>`` (403 for a member)."""
    principal = await _principal(get_surface("webhooks"), _bearer(authorization))
    if not principal.is_admin:
        raise ApiError(403, ADMIN_ONLY, code="FORBIDDEN")
    return principal


ADMIN_ONLY = "This endpoint needs the account's admin key"

VerifyHumanPrincipal = Annotated[Principal, Depends(principal_of(get_surface("verifyhuman")))]
HiEnergyPrincipal = Annotated[Principal, Depends(principal_of(get_surface("hienergy")))]
WebhooksPrincipal = Annotated[Principal, Depends(principal_of(get_surface("webhooks")))]
AccountAdmin = Annotated[Principal, Depends(account_admin)]
"""The project's own account API (``/account/v1``): an admin key of the account."""
