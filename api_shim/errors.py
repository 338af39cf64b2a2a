"""Every error, in the shape of the surface that was called (one place for all three).

Each surface declares its error body (``surfaces/<name>.py``): VerifyHuman
``{"error": message, "field"?: name}``, HiEnergy ``{"error": {"code", "message",
"field"?}}``, webhooks ``{"error": {"code", "message"}, "meta": {"request_id"}}``.

Bodies are made from the surfaces' models, and the routers document the same models
(``error_responses``), so the OpenAPI document and the answers cannot drift apart.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from report_exports.errors import (
    ConflictError,
    ExportError,
    ForbiddenError,
    KeyReusedError,
    NotFoundError,
    ServiceUnavailableError,
    StorageError,
    ValidationError,
)
from surfaces.base import ErrorInfo
from surfaces.registry import get_surface, surface_for_path

logger = logging.getLogger(__name__)

CODES = {
    400: "INVALID_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    416: "RANGE_NOT_SATISFIABLE",
    422: "INVALID_REQUEST",
    500: "INTERNAL_ERROR",
    503: "SERVICE_UNAVAILABLE",
}


class ApiError(Exception):
    """An HTTP error a route raises; rendered in the caller's surface shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        field: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field
        self.code = code or CODES.get(status, "ERROR")
        self.headers = dict(headers or {})


DESCRIPTIONS = {
    400: "Invalid request; the message (and `field`, where the shape has one) names the culprit",
    401: "Invalid or missing API key",
    403: "Forbidden",
    404: "Not found, or not the caller's",
    409: "Conflict",
    413: "Request body over the size limit",
    416: "The requested byte range is outside the file (`Content-Range: bytes */size`)",
    422: "The request contradicts an earlier one",
    503: "Export service temporarily unavailable; try again shortly",
}


def error_responses(
    surface: str, *statuses: int, described: Mapping[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these errors, and any other as ``default``, in the shape.

    Bad input is a 400 here; documenting ``default`` also keeps FastAPI from adding the
    422 ``HTTPValidationError`` this API never sends. ``described`` says what a status
    means on a route, where the generic description is not enough.
    """
    shape, say = get_surface(surface).error_model, {**DESCRIPTIONS, **(described or {})}
    out: dict[int | str, dict[str, Any]] = {
        status: {"model": shape, "description": say[status]} for status in statuses
    }
    out["default"] = {"model": shape, "description": "Any other error (e.g. 500), same shape"}
    return out


def surface_of(path: str) -> str:
    """Which surface a request path belongs to (its error shape, its way of sending keys)."""
    return surface_for_path(path).name


def request_id(request: Request) -> str:
    """A per-request id (webhooks' ``meta.request_id``), made once per request."""
    if not hasattr(request.state, "request_id"):
        request.state.request_id = f"req_{secrets.token_hex(8)}"
    return str(request.state.request_id)


def data_envelope(request: Request, data: Any, status_code: int = 200) -> JSONResponse:
    """``{"data": …, "meta": {"request_id"}}``: the webhook surface's (and account API's) body."""
    return JSONResponse(
        {"data": data, "meta": {"request_id": request_id(request)}}, status_code=status_code
    )


def error_response(
    request: Request, error: ApiError, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The error in the shape of the request's surface."""
    surface = surface_for_path(request.url.path)
    extra = error.headers | dict(headers or {})
    if error.status == 401:
        extra["WWW-Authenticate"] = "Bearer"
    body = surface.render_error(
        ErrorInfo(error.status, error.code, error.message, error.field or None),
        request_id(request),
    )
    return JSONResponse(body, status_code=error.status, headers=extra or None)


HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")


def allowed_methods(request: Request) -> str:
    """The ``Allow`` of a 405: every method some route of the app takes at this path.

    Asked of the routes themselves: the route that raised the 405 knows only its own
    methods, and GET and POST of one path are two routes.
    """
    routes = request.app.router.routes
    return ", ".join(
        method
        for method in HTTP_METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes
        )
    )


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    first = exc.errors()[0] if exc.errors() else {}
    kind = first.get("type", "")
    if kind == "json_invalid":
        return "Request body must be valid JSON", None
    if tuple(first.get("loc", ())) == ("body",):
        # The body as a whole is wrong: empty, null, an array, a string, a number.
        return "Request body must be a JSON object", None
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
    field = ".".join(loc) or None
    if kind == "missing":
        return f"Missing required field: {field}", field
    if kind == "extra_forbidden":
        return f"Unknown field: {field}", field
    return f"Invalid {field or 'request'}: {first.get('msg', 'invalid value')}", field


def service_unavailable() -> ApiError:
    """503: a part the API depends on (Prefect, the job store) cannot be reached."""
    return ApiError(
        503, "Export service temporarily unavailable; try again shortly", code="SERVICE_UNAVAILABLE"
    )


def install_error_handlers(app: FastAPI) -> None:
    """Map every failure to the caller's surface shape; never a bare 500 page."""

    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(request, exc)

    @app.exception_handler(ValidationError)
    async def _domain_validation(request: Request, exc: ValidationError) -> JSONResponse:
        return error_response(request, ApiError(400, exc.message, field=exc.field))

    @app.exception_handler(NotFoundError)
    async def _not_found(request: Request, exc: NotFoundError) -> JSONResponse:
        return error_response(request, ApiError(404, str(exc)))

    @app.exception_handler(ForbiddenError)
    async def _forbidden(request: Request, exc: ForbiddenError) -> JSONResponse:
        return error_response(request, ApiError(403, exc.message))

    @app.exception_handler(ConflictError)
    async def _conflict(request: Request, exc: ConflictError) -> JSONResponse:
        return error_response(request, ApiError(409, exc.message))

    @app.exception_handler(KeyReusedError)
    async def _key_reused(request: Request, exc: KeyReusedError) -> JSONResponse:
        error = ApiError(422, exc.message, field="Idempotency-Key", code="IDEMPOTENCY_KEY_REUSED")
        return error_response(request, error)

    @app.exception_handler(ServiceUnavailableError)
    async def _unavailable(request: Request, exc: ServiceUnavailableError) -> JSONResponse:
        logger.warning("unavailable on %s: %s", request.url.path, exc)
        return error_response(request, service_unavailable())

    @app.exception_handler(StorageError)
    async def _storage(request: Request, exc: StorageError) -> JSONResponse:
        logger.warning("export storage failed on %s: %s", request.url.path, exc)
        return error_response(
            request,
            ApiError(
                503,
                "Export storage temporarily unavailable; try again shortly",
                code="SERVICE_UNAVAILABLE",
            ),
        )

    @app.exception_handler(ExportError)
    async def _export(request: Request, exc: ExportError) -> JSONResponse:
        logger.exception("export error on %s", request.url.path)
        return error_response(request, ApiError(500, "The export could not be processed"))

    @app.exception_handler(RequestValidationError)
    async def _request(request: Request, exc: RequestValidationError) -> JSONResponse:
        message, field = _validation_message(exc)
        return error_response(request, ApiError(400, message, field=field))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = {404: "Not found", 405: "Method not allowed"}.get(
            exc.status_code, str(exc.detail)
        )
        # RFC 9110: a 405 says which methods the resource does take.
        headers = {"Allow": allowed_methods(request)} if exc.status_code == 405 else None
        return error_response(request, ApiError(exc.status_code, message, headers=headers))

    @app.exception_handler(sa_exc.OperationalError)
    @app.exception_handler(sa_exc.InterfaceError)
    async def _store_down(request: Request, exc: sa_exc.DBAPIError) -> JSONResponse:
        # The job store cannot be reached (down, restarting, refusing connections).
        logger.warning("job store unavailable on %s: %s", request.url.path, exc.orig)
        return error_response(request, service_unavailable())

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected error on %s", request.url.path)
        return error_response(request, ApiError(500, "Internal error"))
