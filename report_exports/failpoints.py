"""Failpoints: named places where a process can be held, so chaos tests kill it there.

A failpoint is armed by creating a file named after it in the folder of the
``failpoint_dir`` setting (``REPORT_EXPORTS_FAILPOINT_DIR``); a process reaching an armed
failpoint waits there until the file is removed (or ``MAX_HOLD_SECONDS`` pass). Without
the setting, which is what every deployment has, :func:`hold` returns at once.

The places, in the order an export reaches them:

- ``before-launch``: a launcher has claimed a queued job and not yet created its run;
- ``after-start``: a flow run has marked its job running (heartbeats are going);
- ``before-record``: the file is published and the job row not yet told it succeeded.
"""

from __future__ import annotations

import logging
import os
import time

from report_exports.settings import get_settings

logger = logging.getLogger(__name__)

NAMES = frozenset({"before-launch", "after-start", "before-record"})
MAX_HOLD_SECONDS = 300.0
POLL_SECONDS = 0.05


def hold(name: str) -> None:
    """Wait while failpoint ``name`` is armed (a no-op when no failpoint folder is set)."""
    folder = get_settings().failpoint_dir
    if folder is None:
        return
    assert name in NAMES, f"unknown failpoint {name}"
    armed = folder / name
    if not armed.exists():
        return
    logger.warning("held at failpoint %s (pid %s)", name, os.getpid())
    deadline = time.monotonic() + MAX_HOLD_SECONDS
    while armed.exists() and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)


async def hold_async(name: str) -> None:
    """:func:`hold` for event loops: waits without blocking the loop."""
    import asyncio

    folder = get_settings().failpoint_dir
    if folder is None or not (folder / name).exists():
        return
    await asyncio.to_thread(hold, name)
