"""Housekeeping flows run one pass at a time: a pass that finds the lease held ends."""

from __future__ import annotations

from datetime import timedelta

import pytest

from jobstore.leases import release_lease, take_lease
from jobstore.store import init_store, job_engine

pytestmark = pytest.mark.usefixtures("prefect_server", "demo_source")


@pytest.mark.parametrize("name", ["reconcile-exports", "cleanup-expired"])
def test_a_pass_ends_while_another_holds_the_lease_and_runs_after_it(name: str) -> None:
    from flows.cleanup_expired import cleanup_expired
    from flows.reconcile_exports import reconcile_exports

    flow = {"reconcile-exports": reconcile_exports, "cleanup-expired": cleanup_expired}[name]
    engine = job_engine()
    init_store(engine)
    assert take_lease(engine, name, "a slow pass", timedelta(minutes=5))
    try:
        assert flow() == {"skipped": "another pass is running"}
    finally:
        release_lease(engine, name, "a slow pass")
    done = flow()
    assert "skipped" not in done
    assert take_lease(engine, name, "next", timedelta(seconds=1)), "the pass released its lease"
    release_lease(engine, name, "next")
