"""The page's own ASGI app: its routes, static files, HTML errors and security headers.

Mounted by the API at ``/ui`` (``api_shim.app``), so its errors are pages, not a
surface's JSON, and the API's OpenAPI document does not list it.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api_shim.errors import ApiError
from api_shim.page import auth, create, sections, views
from api_shim.page.deps import ADMIN_NAV, NAV, STATIC_DIR, CsrfRefused, SignedOut, render
from api_shim.page.session import AttemptLimiter
from report_exports.errors import NotFoundError, ServiceUnavailableError, StorageError
from report_exports.settings import get_settings

logger = logging.getLogger(__name__)

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
TITLES = {
    400: "That request could not be read",
    403: "Not allowed",
    404: "Page not found",
    405: "Not allowed",
    429: "Too many requests",
    500: "Something went wrong",
    503: "Temporarily unavailable",
}
MESSAGES = {
    403: "The form was missing its security token, or it has expired. Go back, reload the "
    "page and try again.",
    404: "There is no such export or page here, or it is not yours to see.",
    500: "The page could not be shown. Try again in a moment.",
    503: "The export service cannot be reached just now. Try again shortly.",
}


class PageHeaders:
    """Security headers on every answer of the page, errors and static files included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Add the headers as the response starts."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith(("/static/", "/ui/static/"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "same-origin"
                headers["X-Frame-Options"] = "DENY"
                if not static:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


def error_page(request: Request, status: int, message: str | None = None) -> Response:
    """An error as a page of the site (no internal detail)."""
    if request.url.path.startswith("/ui/live/"):
        return JSONResponse({"error": TITLES.get(status, "Error")}, status_code=status)
    return render(
        request,
        "error.html",
        None,
        status_code=status,
        title=TITLES.get(status, "Something went wrong"),
        message=message or MESSAGES.get(status, ""),
    )


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(SignedOut)
    async def _signed_out(request: Request, exc: SignedOut) -> Response:
        if request.url.path.startswith("/ui/live/"):
            return JSONResponse({"signed_out": True}, status_code=401)
        return auth.signed_out(request, exc)

    @app.exception_handler(CsrfRefused)
    async def _csrf(request: Request, _exc: CsrfRefused) -> Response:
        return error_page(request, 403)

    @app.exception_handler(NotFoundError)
    async def _not_found(request: Request, _exc: NotFoundError) -> Response:
        return error_page(request, 404)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return error_page(request, exc.status, exc.message)

    @app.exception_handler(ServiceUnavailableError)
    @app.exception_handler(StorageError)
    async def _unavailable(request: Request, exc: Exception) -> Response:
        logger.warning("page: unavailable on %s: %s", request.url.path, exc)
        return error_page(request, 503)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, _exc: RequestValidationError) -> Response:
        return error_page(request, 400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        response = error_page(request, exc.status_code)
        if exc.status_code == 405 and exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, _exc: Exception) -> Response:
        logger.exception("page: unexpected error on %s", request.url.path)
        return error_page(request, 500)


def create_page_app() -> ASGIApp:
    """The page as an ASGI app to mount at ``/ui``."""
    settings = get_settings()
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.state.sign_in_limiter = AttemptLimiter(
        settings.ui_sign_in_limit, settings.ui_sign_in_window_seconds
    )
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for router in (auth.router, create.router, views.router):
        app.include_router(router)
    NAV.clear()
    ADMIN_NAV.clear()
    for module in sections.modules():
        section = getattr(module, "router", None)
        if isinstance(section, APIRouter):
            app.include_router(section)
        if isinstance(getattr(module, "NAV", None), tuple):
            NAV.append(module.NAV)
            if getattr(module, "ADMIN_ONLY", False):
                ADMIN_NAV.add(module.NAV[1])
    _install_handlers(app)
    return PageHeaders(app)
