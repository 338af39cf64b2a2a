"""The local Prefect server answers a busy database's 503 with a short, growing Retry-After."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from deployments.prefect_server import RetrySoon

ANSWERS: list[int] = []


async def endpoint(request: Request) -> JSONResponse:
    status = ANSWERS.pop(0)
    headers = {"Retry-After": "7"} if request.query_params.get("own") else {}
    return JSONResponse({"exception_message": "Service Unavailable"}, status, headers=headers)


APP = RetrySoon(Starlette(routes=[Route("/api/{rest:path}", endpoint, methods=["GET", "POST"])]))


def _get(path: str, **params: str) -> httpx.Response:
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=APP, client=("127.0.0.1", 5555))
        async with httpx.AsyncClient(transport=transport, base_url="http://prefect") as client:
            return await client.get(path, params=params)

    return asyncio.run(call())


def test_a_503_gets_a_short_retry_after_that_grows_while_the_path_stays_busy() -> None:
    ANSWERS[:] = [503, 503, 503, 200, 503]
    waits = [_get("/api/flow_runs/a/set_state").headers.get("retry-after") for _ in range(5)]
    assert waits[:3] == ["0.10", "0.40", "1.60"], "a passing lock costs a tenth of a second"
    assert waits[3] is None, "a success answers as it is"
    assert waits[4] == "0.10", "and starts the next streak afresh"


def test_streaks_are_per_path_and_cap_at_thirty_seconds() -> None:
    ANSWERS[:] = [503] * 8
    waits = [_get("/api/deployments/d/create_flow_run").headers["retry-after"] for _ in range(7)]
    assert waits[-1] == "30.00" and float(waits[-2]) <= 30
    assert _get("/api/other").headers["retry-after"] == "0.10"


def test_a_retry_after_the_app_chose_is_kept() -> None:
    ANSWERS[:] = [503]
    assert _get("/api/x", own="1").headers["retry-after"] == "7"


def test_the_session_server_is_prefects_app_behind_it(prefect_server: str) -> None:
    port = prefect_server.split(":")[-1].removesuffix("/api")
    commands = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit():
                commands.append((entry / "cmdline").read_bytes().split(b"\0"))
    assert [b"-m", b"deployments.prefect_server", b"--port", port.encode()] in [
        c[1:5] for c in commands
    ]
    assert httpx.get(f"{prefect_server}/health", timeout=15).json() is True
    assert httpx.get(f"{prefect_server}/admin/version", timeout=15).status_code == 200


def test_sqlite_write_transactions_begin_immediate(tmp_path: Path) -> None:
    """Every write transaction takes SQLite's write lock first (no deferred upgrade)."""
    from prefect.server.database.configurations import SQLITE_BEGIN_MODE, AioSqliteConfiguration
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

    from deployments.prefect_server import write_transactions_take_the_lock_first

    assert write_transactions_take_the_lock_first()
    assert write_transactions_take_the_lock_first(), "a second call changes nothing"
    config = AioSqliteConfiguration(f"sqlite+aiosqlite:///{tmp_path / 'p.db'}")

    async def modes() -> list[str | None]:
        engine = create_async_engine(config.connection_url)
        seen = []
        async with AsyncSession(engine) as session:
            for for_update in (False, True):
                async with config.begin_transaction(session, with_for_update=for_update):
                    seen.append(SQLITE_BEGIN_MODE.get())
        await engine.dispose()
        return seen

    assert asyncio.run(modes()) == ["IMMEDIATE", "IMMEDIATE"]
