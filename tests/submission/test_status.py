"""The status map of DESIGN.md, for every Prefect StateType on every surface."""

from __future__ import annotations

import pytest
from prefect.client.schemas.objects import StateType

from submission.status import RunState, surface_status

EXPECTED = {  # Prefect state (type, name) of a job that is not finished: per surface
    ("SCHEDULED", "Scheduled"): ("queued", "pending", "pending"),
    ("SCHEDULED", "Late"): ("queued", "pending", "pending"),
    ("SCHEDULED", "AwaitingConcurrencySlot"): ("queued", "pending", "pending"),
    ("SCHEDULED", "AwaitingRetry"): ("running", "processing", "processing"),
    ("PENDING", "Pending"): ("queued", "pending", "pending"),
    ("RUNNING", "Running"): ("running", "processing", "processing"),
    ("RUNNING", "Retrying"): ("running", "processing", "processing"),
    ("PAUSED", "Paused"): ("running", "processing", "processing"),
    ("PAUSED", "Suspended"): ("running", "processing", "processing"),
    ("COMPLETED", "Completed"): ("running", "processing", "processing"),
    ("FAILED", "Failed"): ("failed", "failed", "failed"),
    ("CRASHED", "Crashed"): ("failed", "failed", "failed"),
    ("CANCELLING", "Cancelling"): ("cancelled", "failed", "failed"),
    ("CANCELLED", "Cancelled"): ("cancelled", "failed", "failed"),
}
SURFACES = ("verifyhuman", "hienergy", "webhooks")


def test_every_prefect_state_type_is_covered() -> None:
    assert {t for t, _ in EXPECTED} == {t.value for t in StateType}


@pytest.mark.parametrize(("state", "names"), EXPECTED.items())
@pytest.mark.parametrize("job_state", ["queued", "running"])
def test_unfinished_jobs_follow_their_flow_run(state, names, job_state) -> None:
    for surface, expected in zip(SURFACES, names, strict=True):
        status = surface_status(
            surface, job_state, RunState(*state, message="boom"), file_present=False
        )
        assert status.value == expected, (surface, state)
        assert status.file_available is False, "never succeeded without its file"
        if state[0] in ("FAILED", "CRASHED"):
            # Prefect's state message is for operators: clients get a plain reason.
            assert status.error and "boom" not in status.error
        if state[0] == "CRASHED":
            assert "crashed" in status.error


@pytest.mark.parametrize("surface", SURFACES)
def test_finished_jobs_trust_the_job_row(surface) -> None:
    ok = surface_status(surface, "succeeded", RunState("COMPLETED"), file_present=True)
    gone = surface_status(surface, "succeeded", RunState("COMPLETED"), file_present=False)
    expired = surface_status(surface, "expired", None, file_present=False)
    failed = surface_status(
        surface,
        "failed",
        RunState("RUNNING"),
        file_present=False,
        error_message="QueryError: no such table",
    )
    cancelled = surface_status(surface, "cancelled", None, file_present=False)
    assert ok.value == {"verifyhuman": "succeeded"}.get(surface, "completed") and ok.file_available
    assert (
        gone.value
        == expired.value
        == {"verifyhuman": "succeeded", "hienergy": "completed", "webhooks": "expired"}[surface]
    )
    assert not gone.file_available and not expired.file_available
    assert failed.value == "failed" and failed.error == "QueryError: no such table"
    assert cancelled.value == ("cancelled" if surface == "verifyhuman" else "failed")
    assert cancelled.error == "cancelled"


def test_a_job_without_a_flow_run_is_queued() -> None:
    assert [surface_status(s, "queued", None, file_present=False).value for s in SURFACES] == [
        "queued",
        "pending",
        "pending",
    ]
