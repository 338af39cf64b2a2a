"""Housekeeping leases: one reconcile (or cleanup) pass at a time, across processes.

A pass that finds the lease held by another ends at once, so passes that come due while a
slow one works never pile up in the runner's slots. The lease is an economy, not a lock
that correctness needs: every write a pass makes is guarded on its own (a job's
``from_states``, an outbox claim), so two passes at once, after a lease ran out under a
slow pass, do no harm. A pass that dies keeps its lease until ``held_until``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, insert, update
from sqlalchemy.exc import IntegrityError

from jobstore.models import HousekeepingLease, utcnow


def take_lease(
    engine: Engine, name: str, holder: str, ttl: timedelta, now: datetime | None = None
) -> bool:
    """Hold ``name`` until now + ``ttl`` unless someone else holds it now; True when held."""
    now = now or utcnow()
    until = now + ttl
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(HousekeepingLease).values(name=name, holder=holder, held_until=until)
            )
        return True
    except IntegrityError:
        pass
    with engine.begin() as conn:
        taken = conn.execute(
            update(HousekeepingLease)
            .where(HousekeepingLease.name == name, HousekeepingLease.held_until < now)
            .values(holder=holder, held_until=until)
        ).rowcount
    return taken == 1


def release_lease(engine: Engine, name: str, holder: str) -> None:
    """Give ``name`` back if ``holder`` still holds it."""
    with engine.begin() as conn:
        conn.execute(
            delete(HousekeepingLease).where(
                HousekeepingLease.name == name, HousekeepingLease.holder == holder
            )
        )


@contextmanager
def one_pass_at_a_time(
    engine: Engine, name: str, ttl: timedelta, wait: timedelta = timedelta(0)
) -> Iterator[bool]:
    """Yields True when this pass holds the lease (released on exit), False when another
    still does after ``wait`` (a short pass that is ending lets this one run after it)."""
    holder = uuid.uuid4().hex
    deadline = time.monotonic() + wait.total_seconds()
    while not (held := take_lease(engine, name, holder, ttl)) and time.monotonic() < deadline:
        time.sleep(0.1)
    try:
        yield held
    finally:
        if held:
            release_lease(engine, name, holder)
