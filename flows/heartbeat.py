"""A running export says on its job row that it is alive, every few seconds.

The reconciler fails a running job whose beat stopped (its process was killed, its
machine lost): the job store's own liveness, which holds on the embedded stack and on
work pools alike, and whatever Prefect knows or does not know about the run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from jobstore.store import job_engine
from jobstore.transitions import beat

logger = logging.getLogger(__name__)


@contextmanager
def job_heartbeat(job_id: int, every_seconds: float) -> Iterator[None]:
    """Beat for ``job_id`` from a daemon thread while the block runs."""
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(every_seconds):
            try:
                if not beat(job_engine(), job_id):
                    return  # finished (or failed by someone else): nothing to keep alive
            except Exception as exc:  # the job store away for a moment: try again
                logger.warning("job %s: heartbeat not written: %s", job_id, exc)

    thread = threading.Thread(target=run, name=f"job-{job_id}-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
