"""Telling the served runner of this machine's stack that a run was just created.

It then looks for scheduled runs at once instead of at its next poll (every
``runner_poll_seconds``; polling faster costs the Prefect server CPU all day). The serving
side is ``deployments/runner_nudge.py``.
"""

from __future__ import annotations

import socket

from report_exports.settings import get_settings


def nudge_runner() -> None:
    """One datagram on the runner's Unix socket, never waited for: no stack here, or a
    runner that misses it, and the run starts at the next poll as it would have."""
    path = str(get_settings().runner_socket)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            sock.sendto(b"look", path)
    except OSError:  # nobody listens (no served stack), or its queue is full
        pass
