"""Housekeeping leases: one pass at a time across processes, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from jobstore import store
from jobstore.leases import one_pass_at_a_time, release_lease, take_lease
from jobstore.models import utcnow
from report_exports.database import engine_for
from tests.postgres import scratch_database, server_url

MINUTE = timedelta(minutes=1)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def leases_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated job store of each backend."""
    if request.param == "sqlite":
        engine = engine_for(f"sqlite:///{tmp_path / 'jobs.db'}")
        store.init_store(engine)
        yield engine
        return
    with scratch_database(server_url()) as url:
        engine = engine_for(url)
        store.init_store(engine)
        yield engine


def test_a_held_lease_is_refused_to_others_until_it_runs_out(leases_engine) -> None:
    now = utcnow()
    assert take_lease(leases_engine, "reconcile", "a", MINUTE, now=now)
    assert not take_lease(leases_engine, "reconcile", "b", MINUTE, now=now + timedelta(seconds=59))
    assert take_lease(leases_engine, "cleanup", "b", MINUTE, now=now), "names are independent"
    # Its holder died: the lease runs out and the next pass takes it.
    assert take_lease(leases_engine, "reconcile", "b", MINUTE, now=now + timedelta(seconds=61))
    # The old holder's release does not free what another now holds.
    release_lease(leases_engine, "reconcile", "a")
    assert not take_lease(leases_engine, "reconcile", "c", MINUTE, now=now + timedelta(seconds=62))
    release_lease(leases_engine, "reconcile", "b")
    assert take_lease(leases_engine, "reconcile", "c", MINUTE, now=now + timedelta(seconds=62))


def test_one_pass_at_a_time_releases_on_exit_and_on_error(leases_engine) -> None:
    with one_pass_at_a_time(leases_engine, "reconcile", MINUTE) as held:
        assert held
        with one_pass_at_a_time(leases_engine, "reconcile", MINUTE) as second:
            assert not second
    with (
        pytest.raises(RuntimeError),
        one_pass_at_a_time(leases_engine, "reconcile", MINUTE) as held,
    ):
        assert held
        raise RuntimeError("the pass failed")
    with one_pass_at_a_time(leases_engine, "reconcile", MINUTE) as held:
        assert held, "a failed pass gave its lease back"


def test_of_many_passes_at_once_exactly_one_holds_the_lease(leases_engine) -> None:
    start = threading.Barrier(8)
    won: list[str] = []

    def attempt(holder: str) -> None:
        start.wait()
        if take_lease(leases_engine, "reconcile", holder, MINUTE):
            won.append(holder)

    threads = [threading.Thread(target=attempt, args=(f"p{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1, won


def test_a_pass_waits_for_one_that_is_ending(leases_engine) -> None:
    release = threading.Timer(0.5, release_lease, (leases_engine, "cleanup", "first"))
    assert take_lease(leases_engine, "cleanup", "first", MINUTE)
    release.start()
    with one_pass_at_a_time(leases_engine, "cleanup", MINUTE, wait=timedelta(seconds=5)) as held:
        assert held, "the first pass ended within the wait"
    assert take_lease(leases_engine, "cleanup", "third", MINUTE)
    with one_pass_at_a_time(leases_engine, "cleanup", MINUTE, wait=timedelta(seconds=0.3)) as held:
        assert not held, "a pass that does not end in time is left to finish"
