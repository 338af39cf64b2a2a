"""Every error, in the shape of the surface that was called (one place for all three).

VerifyHuman: ``{"error": message, "field"?: name}``
HiEnergy:    ``{"error": {"code", "message", "field"?}}``
Webhooks:    ``{"error": {"code", "message"}, "meta": {"request_id"}}``
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from report_exports.errors import ExportError, NotFoundError, ValidationError

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
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field
        self.code = code or CODES.get(status, "ERROR")
        self.extra = extra or {}


def surface_of(path: str) -> str:
    """Which surface a request path belongs to."""
    if path.startswith("/api/v1/"):
        return "hienergy"
    if path.startswith("/v1/"):
        return "webhooks"
    return "verifyhuman"


def request_id(request: Request) -> str:
    """A per-request id (webhooks' ``meta.request_id``), made once per request."""
    if not hasattr(request.state, "request_id"):
        request.state.request_id = f"req_{secrets.token_hex(8)}"
    return str(request.state.request_id)


def error_response(request: Request, error: ApiError) -> JSONResponse:
    """The error in the shape of the request's surface."""
    surface = surface_of(request.url.path)
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
    body: dict[str, Any]
    if surface == "verifyhuman":
        body = {"error": error.message}
        if error.field:
            body["field"] = error.field
    elif surface == "hienergy":
        body = {"error": {"code": error.code, "message": error.message}}
        if error.field:
            body["error"]["field"] = error.field
    else:
        body = {
            "error": {"code": error.code, "message": error.message},
            "meta": {"request_id": request_id(request)},
        }
    body.update(error.extra)
    return JSONResponse(body, status_code=error.status, headers=headers)


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
        return error_response(request, ApiError(exc.status_code, message))

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
