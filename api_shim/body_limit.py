"""A cap on request bodies, counted as the bytes arrive (Content-Length is only a claim)."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api_shim.errors import ApiError, error_response
from report_exports.settings import get_settings


class BodySizeLimit:
    """413, in the caller's surface shape, for a body over ``max_body_bytes``.

    A declared Content-Length over the limit is refused before reading. Any other body
    (chunked ones have no length) is read here, at most the limit, and handed on whole,
    so no route ever reads more than the limit.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on with its body, or answer 413 without passing it on."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = get_settings().max_body_bytes
        length = Headers(scope=scope).get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await self._refuse(scope, receive, send, limit)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away mid-body
                break
            body += message.get("body", b"")
            if len(body) > limit:
                await self._refuse(scope, receive, send, limit)
                return
            if not message.get("more_body", False):
                message = {"type": "http.request", "body": bytes(body), "more_body": False}
                break
        pending = [message]

        async def replay() -> Message:
            return pending.pop() if pending else await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        error = ApiError(413, f"Request body over {limit} bytes")
        await error_response(Request(scope), error)(scope, receive, send)
