"""The Prefect server we start: Prefect's own app, with a short ``Retry-After`` on a 503.

Prefect's server on SQLite answers a write that meets a busy database with 503 "Service
Unavailable" (a deferred transaction that cannot upgrade to a write fails at once, with no
busy wait). Prefect's client then waits ``2 ** attempt`` seconds unless the answer carries
``Retry-After``, which it honours: two seconds of a small export's half second went there
in about one run of three (the flow run's own state writes, its artifacts, a launch). Here
every such 503 carries a ``Retry-After`` that starts at 0.1 s and grows fourfold for each
503 in a row to the same client host, method and path, up to 30 s: a passing lock costs a
tenth of a second, and a database that stays locked still gets a backoff (five retries
cover 34 s), not a storm.

On SQLite it also opens every write transaction with ``BEGIN IMMEDIATE``: Prefect does so
for the writes it found racing (a run's state, a deployment's readiness) because "a
deferred transaction that reads first cannot be upgraded to a write if another connection
commits in between and fails immediately with 'database is locked'"; the rest (creating a
flow run from a deployment among them) failed that way, at once, whenever another write
was under way. Taking the lock first, a write waits its turn instead (the busy timeout).

Run as ``python -m deployments.prefect_server --host H --port P`` by
``deployments.local_server.start_server``; it serves what ``prefect server start`` serves
(API, UI, background services) with the settings of the environment.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

FIRST_RETRY_SECONDS = 0.1
GROWTH = 4.0
LONGEST_RETRY_SECONDS = 30.0
STREAK_FORGOTTEN_AFTER = 30.0
"""A 503 this long after the last one on the same key starts a new streak."""


class RetrySoon:
    """ASGI middleware: a 503 without ``Retry-After`` gets one that grows with its streak."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._streaks: dict[tuple[Any, ...], tuple[int, float]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass everything through; add the header to a 503's response start."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client") or ("", 0)
        key = (client[0], scope.get("method"), scope.get("path"))

        async def send_with_retry_after(message: Message) -> None:
            if message["type"] == "http.response.start":
                if message["status"] == 503:
                    headers = list(message.get("headers", []))
                    if not any(name.lower() == b"retry-after" for name, _ in headers):
                        headers.append((b"retry-after", self.retry_after(key).encode()))
                        message["headers"] = headers
                else:
                    self._streaks.pop(key, None)
            await send(message)

        await self.app(scope, receive, send_with_retry_after)

    def retry_after(self, key: tuple[Any, ...], now: float | None = None) -> str:
        """Seconds to wait after this 503 (the n-th in a row: 0.1 × 4ⁿ⁻¹, at most 30)."""
        now = time.monotonic() if now is None else now
        streak, last = self._streaks.get(key, (0, now))
        if now - last > STREAK_FORGOTTEN_AFTER:
            streak = 0
        self._streaks[key] = (streak + 1, now)
        if len(self._streaks) > 10_000:  # clients that never came back
            self._streaks = {k: v for k, v in self._streaks.items() if now - v[1] < 60}
        seconds = min(FIRST_RETRY_SECONDS * GROWTH**streak, LONGEST_RETRY_SECONDS)
        return f"{seconds:.2f}"


def write_transactions_take_the_lock_first() -> bool:
    """SQLite write transactions begin IMMEDIATE (see the module doc); False if Prefect's
    configuration no longer looks as expected (then it is left alone)."""
    import inspect

    from prefect.server.database.configurations import AioSqliteConfiguration

    original = AioSqliteConfiguration.begin_transaction
    if getattr(original, "takes_lock_first", False):
        return True
    if '"IMMEDIATE" if with_for_update else "DEFERRED"' not in inspect.getsource(original):
        return False

    def begin_transaction(self: Any, session: Any, with_for_update: bool = False) -> Any:
        return original(self, session, with_for_update=True)

    begin_transaction.takes_lock_first = True  # type: ignore[attr-defined]
    AioSqliteConfiguration.begin_transaction = begin_transaction  # type: ignore[method-assign]
    return True


def create_app() -> ASGIApp:
    """Prefect's server app (API, UI, services), wrapped in :class:`RetrySoon`."""
    from prefect.server.api.server import create_app as create_prefect_app

    if not write_transactions_take_the_lock_first():
        import logging

        logging.getLogger(__name__).warning("Prefect's SQLite transactions left as they are")
    return RetrySoon(create_prefect_app(final=True))


def main(argv: list[str] | None = None) -> None:
    """Serve it on ``--host``/``--port`` until interrupted."""
    import uvicorn
    from prefect.settings import (
        PREFECT_SERVER_API_KEEPALIVE_TIMEOUT,
        PREFECT_SERVER_API_WEBSOCKET_PING_INTERVAL,
        PREFECT_SERVER_API_WEBSOCKET_PING_TIMEOUT,
        PREFECT_SERVER_LOGGING_LEVEL,
    )

    parser = argparse.ArgumentParser(prog="python -m deployments.prefect_server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    uvicorn.run(
        create_app(),
        host=args.host,
        port=args.port,
        timeout_keep_alive=PREFECT_SERVER_API_KEEPALIVE_TIMEOUT.value(),
        ws_ping_interval=PREFECT_SERVER_API_WEBSOCKET_PING_INTERVAL.value(),
        ws_ping_timeout=PREFECT_SERVER_API_WEBSOCKET_PING_TIMEOUT.value(),
        log_level=PREFECT_SERVER_LOGGING_LEVEL.value().lower(),
    )


if __name__ == "__main__":
    main()
