"""Launchers nudge the served runner over a Unix datagram socket; it looks for runs at once."""

from __future__ import annotations

import asyncio
import stat
import threading
from pathlib import Path

import pytest

from deployments.runner_nudge import nudges
from report_exports.settings import get_settings
from submission.nudge import nudge_runner


@pytest.fixture
def socket_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("REPORT_EXPORTS_VAR_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield get_settings().runner_socket
    get_settings.cache_clear()


def test_each_nudge_makes_the_runner_look_and_nudges_meanwhile_make_one_more(
    socket_path: Path,
) -> None:
    looks: list[float] = []
    release = asyncio.Event()

    async def look() -> None:
        looks.append(asyncio.get_running_loop().time())
        if len(looks) == 1:
            await release.wait()  # a slow look: nudges arrive meanwhile

    async def scenario() -> None:
        async with nudges(socket_path, look) as listening:
            assert listening and stat.S_ISSOCK(socket_path.stat().st_mode)
            assert stat.S_IMODE(socket_path.stat().st_mode) == 0o600
            nudge_runner()  # from this process, as the API's launcher does
            await asyncio.sleep(0.2)
            assert len(looks) == 1
            for _ in range(5):  # while the first look works
                threading.Thread(target=nudge_runner).start()
            await asyncio.sleep(0.2)
            release.set()
            await asyncio.sleep(0.2)
            assert len(looks) == 2, "five nudges during a look make one more look"
            nudge_runner()
            await asyncio.sleep(0.2)
            assert len(looks) == 3
        assert not socket_path.exists(), "the socket goes with the listener"

    asyncio.run(scenario())


def test_a_look_that_fails_leaves_the_listener_listening(socket_path: Path) -> None:
    calls = 0

    async def look() -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("the Prefect server is away")

    async def scenario() -> None:
        async with nudges(socket_path, look):
            for _ in range(2):
                nudge_runner()
                await asyncio.sleep(0.2)
        assert calls == 2

    asyncio.run(scenario())


def test_nobody_listening_is_no_error(socket_path: Path) -> None:
    nudge_runner()  # no stack: the datagram goes nowhere, the launch carries on
    socket_path.write_text("not a socket")
    nudge_runner()


def test_the_served_stack_listens_for_nudges(stack) -> None:
    path = get_settings().runner_socket
    assert stat.S_ISSOCK(path.stat().st_mode), path
