"""The launch outbox: one launcher at a time holds a job, leases run out, launches stick."""

from __future__ import annotations

import threading
from datetime import timedelta

from jobstore import outbox, store, transitions
from jobstore.models import LaunchMode, utcnow


def _job(engine, **extra):
    return store.create_job(
        engine,
        surface="webhooks",
        account_id=1,
        report_type="message-log",
        fmt="csv",
        params={},
        **extra,
    )


def test_concurrent_launchers_never_claim_the_same_job(engine) -> None:
    ids = {_job(engine).id for _ in range(30)}
    claims: list[list[int]] = []

    def launcher() -> None:  # claims until nothing waits (a pass may lose every race)
        while batch := outbox.claim_launches(engine, lease=timedelta(seconds=30), limit=8):
            claims.append([j.id for j in batch])

    threads = [threading.Thread(target=launcher) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    taken = [job_id for claim in claims for job_id in claim]
    assert len(taken) == len(set(taken)), "no job claimed twice"
    assert set(taken) == ids, "every waiting job was claimed by someone"


def test_a_lease_runs_out_and_a_launched_job_leaves_the_outbox(engine) -> None:
    job = _job(engine)
    (claimed,) = outbox.claim_launches(engine, lease=timedelta(seconds=30))
    assert claimed.id == job.id and claimed.launch_attempts == 1
    assert outbox.claim_launches(engine, lease=timedelta(seconds=30)) == [], "held"
    later = utcnow() + timedelta(seconds=31)
    (again,) = outbox.claim_launches(engine, lease=timedelta(seconds=30), now=later)
    assert again.launch_attempts == 2, "the dead launcher's lease ran out"
    assert outbox.record_launch(engine, job.id, "run-1")
    assert outbox.claim_launches(engine, lease=timedelta(0), now=later + timedelta(hours=1)) == []
    assert outbox.pending_launches(engine) == 0


def test_young_cli_and_finished_jobs_are_not_claimed(engine) -> None:
    young = _job(engine)
    _job(engine, launch_mode=LaunchMode.LOCAL)
    cancelled = _job(engine)
    transitions.mark_cancelled(engine, cancelled.id)
    assert outbox.claim_launches(engine, lease=timedelta(1), older_than=timedelta(minutes=1)) == []
    (only,) = outbox.claim_launches(engine, lease=timedelta(seconds=1))
    assert only.id == young.id


def test_backpressure_claims_only_up_to_the_jobs_in_flight(engine) -> None:
    launched = [_job(engine) for _ in range(3)]
    waiting = [_job(engine).id for _ in range(5)]
    for n, job in enumerate(launched):
        outbox.claim_launches(engine, lease=timedelta(seconds=30), limit=1)
        assert outbox.record_launch(engine, job.id, f"run-{n}")
    assert outbox.launched_unfinished(engine) == 3
    lease = timedelta(seconds=30)
    assert outbox.claim_launches(engine, lease=lease, in_flight_limit=3) == [], "full"
    (one,) = outbox.claim_launches(engine, lease=lease, in_flight_limit=4)
    assert one.id == waiting[0], "oldest first"
    transitions.mark_cancelled(engine, launched[0].id)  # finished: room for one more
    assert outbox.launched_unfinished(engine) == 2
    (two,) = outbox.claim_launches(engine, lease=lease, in_flight_limit=3)
    assert two.id == waiting[1]
