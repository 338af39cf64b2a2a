"""The served runner looks for new runs the moment one is created, not at its next poll.

Prefect's runner polls the API for scheduled runs every ``runner_poll_seconds``; a small
export waited half a poll on average before its process was even started. Whoever creates
an export's run on this machine (the API's launcher, the CLI) sends a datagram to the
serving process's Unix socket (``Settings.runner_socket``, under var/); on each one the
runner polls at once. The regular poll goes on, and covers whatever a datagram missed;
the runner never starts one run twice (it skips runs it is submitting, and the server
accepts one Pending).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

logger = logging.getLogger(__name__)

MAX_UNIX_PATH = 107


class _Nudges(asyncio.DatagramProtocol):
    """Each datagram asks for one look; looks never overlap (one more after a busy one)."""

    def __init__(self, look: Callable[[], Awaitable[None]]) -> None:
        self._look = look
        self._running: asyncio.Task[None] | None = None
        self._again = False

    def datagram_received(self, data: bytes, addr: object) -> None:
        """Look now, or right after the look under way."""
        if self._running is not None and not self._running.done():
            self._again = True
            return
        self._running = asyncio.get_running_loop().create_task(self._looks())

    async def _looks(self) -> None:
        while True:
            self._again = False
            try:
                await self._look()
            except Exception:  # the regular poll still runs; a missed look costs a poll
                logger.warning("looking for new runs on a nudge failed", exc_info=True)
            if not self._again:
                return


@contextlib.asynccontextmanager
async def nudges(path: Path, look: Callable[[], Awaitable[None]]) -> AsyncIterator[bool]:
    """Listen on ``path`` while the block runs; yields whether it listens."""
    if len(str(path)) > MAX_UNIX_PATH:
        logger.warning("%s is too long for a Unix socket: runs start at the next poll", path)
        yield False
        return
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # a socket a dead process left
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    os.chmod(path, 0o600)
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: _Nudges(look), sock=sock
    )
    try:
        yield True
    finally:
        transport.close()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
