"""The FastAPI app: three surfaces, signed downloads, errors in each surface's shape."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy import exc as sa_exc
from starlette.types import ASGIApp

from api_shim.body_limit import BodySizeLimit
from api_shim.downloads import Conditions, file_present, file_response, file_responses, verify
from api_shim.errors import (
    ApiError,
    error_response,
    error_responses,
    install_error_handlers,
    service_unavailable,
    surface_of,
)
from api_shim.headers import ResponseHeaders
from api_shim.page import PREFIX as PAGE_PREFIX
from api_shim.page import create_page_app
from api_shim.routers import account, declared, hienergy, verifyhuman, webhooks
from catalog.registry import FORMATS
from jobstore.models import ExportJob, JobState
from jobstore.store import init_store, job_engine
from submission import delivery
from surfaces.registry import surfaces

logger = logging.getLogger(__name__)
EXPORT_PREFIXES = (
    *(r.prefix for r in (verifyhuman.router, hienergy.router, webhooks.router)),
    account.PREFIX,
)


class ReportExportsAPI(FastAPI):
    """FastAPI with the response headers outside everything, its 500 handler included.

    Middleware added with ``add_middleware`` runs inside Starlette's ServerErrorMiddleware,
    which answers unexpected exceptions itself; wrapping the built stack covers those too.
    """

    no_store_prefixes: tuple[str, ...] = EXPORT_PREFIXES

    def build_middleware_stack(self) -> ASGIApp:
        """The usual stack, wrapped in ResponseHeaders."""
        return ResponseHeaders(
            super().build_middleware_stack(), no_store_prefixes=self.no_store_prefixes
        )


def create_app() -> FastAPI:
    """Build the API (the job store is migrated now, or on the first request it can reach)."""
    store_ready = _try_init_store()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Jobs are committed by the routes and launched by this loop (the outbox), so a
        # create never waits on the Prefect server; the reconciler covers a dead process.
        launcher = delivery.Delivery()
        delivery.install(launcher)
        launcher.start()
        try:
            yield
        finally:
            delivery.install(None)
            await launcher.stop()

    app = ReportExportsAPI(
        title="Report Exports",
        version="1.0.0",
        description="VerifyHuman, HiEnergy and webhook message-log export APIs, "
        "served from one Prefect-backed engine.",
        lifespan=lifespan,
    )
    install_error_handlers(app)

    @app.middleware("http")
    async def migrate_when_reachable(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # Started while the job store was down: answer 503 (in the surface's shape) until
        # it can be reached and migrated, then serve normally.
        nonlocal store_ready
        if not store_ready and request.url.path != "/healthz":
            store_ready = _try_init_store()
            if not store_ready:
                return error_response(request, service_unavailable())
        return await call_next(request)

    app.include_router(verifyhuman.router)
    app.include_router(hienergy.router)
    app.include_router(webhooks.router)
    for router in account.routers():
        app.include_router(router)
    for surface in surfaces().values():  # declared as data only: the generic router
        if surface.name not in declared.BUILT_IN:
            app.include_router(declared.router_for(surface))
            app.no_store_prefixes += (surface.base_path,)

    app.mount(PAGE_PREFIX, create_page_app())  # the page for people: HTML, its own errors

    app.add_middleware(BodySizeLimit)  # added last: the outermost, before anything reads

    @app.get(
        "/files/{public_id}",
        include_in_schema=True,
        tags=["Downloads"],
        summary="Download a file through a signed, expiring URL",
        response_class=StreamingResponse,
        responses=file_responses(*FORMATS)
        | error_responses(
            surface_of("/files/"),
            400,
            403,
            404,
            416,
            503,
            described={403: "Download link is invalid or has expired"},
        ),
    )
    def signed_download(
        public_id: str,
        asked: Conditions,
        expires: int = Query(..., ge=0),
        signature: str = Query(..., max_length=128),
    ) -> Response:
        """The URL's signature is the authorisation; it expires with the link."""
        if not verify(public_id, expires, signature):
            raise ApiError(403, "Download link is invalid or has expired")
        from sqlalchemy import select
        from sqlalchemy.orm import Session

        with Session(job_engine(), expire_on_commit=False) as session:
            job = session.scalars(select(ExportJob).where(ExportJob.public_id == public_id)).first()
        if job is None or job.state != JobState.SUCCEEDED or not file_present(job):
            raise ApiError(404, "Export file not found or expired")
        return file_response(job, asked)

    @app.get("/healthz", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _try_init_store() -> bool:
    try:
        init_store(job_engine())
    except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
        logger.warning("job store unreachable, answering 503 until it is: %s", exc.orig)
        return False
    return True
