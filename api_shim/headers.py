"""Response headers every answer carries, whatever made it (a route, an error, a middleware)."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class ResponseHeaders:
    """``X-Content-Type-Options: nosniff`` on every response; ``Cache-Control: no-store`` on
    the JSON answers of the export surfaces.

    Export JSON carries signed download URLs (HiEnergy's ``download_url``) and job details,
    so no answer under the export prefixes is kept by a cache, errors included: one rule
    for all of them instead of a list of the answers that happen to hold a URL today.
    A pure ASGI middleware: it edits the start message and never holds the body, so file
    downloads still stream.
    """

    def __init__(self, app: ASGIApp, no_store_prefixes: Iterable[str]) -> None:
        self.app = app
        self.no_store_prefixes = tuple(no_store_prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add the headers to the response as it starts."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        no_store = str(scope["path"]).startswith(self.no_store_prefixes)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Content-Type-Options"] = "nosniff"
                if no_store and headers.get("content-type", "").startswith("application/json"):
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
