"""The served deployments of ``report-exports up``: registered, and their schedule runs."""

from __future__ import annotations

import time

import httpx


def test_cleanup_schedule_produces_runs_on_the_embedded_server(stack, prefect_server) -> None:
    deployment = httpx.get(
        f"{prefect_server}/deployments/name/cleanup-expired/cleanup-expired", timeout=10
    ).json()
    assert deployment["schedules"][0]["schedule"]["interval"] == 600
    deadline = time.monotonic() + 60
    runs: list[dict] = []
    while not runs and time.monotonic() < deadline:
        runs = httpx.post(
            f"{prefect_server}/flow_runs/filter",
            json={"deployments": {"id": {"any_": [deployment["id"]]}}, "limit": 10},
            timeout=10,
        ).json()
        time.sleep(1)
    # Prefect's scheduler service made them (it failed on SQLAlchemy 2.1: see pyproject).
    assert runs, "the scheduler made no run of cleanup-expired"
    assert {r["state_type"] for r in runs} <= {"SCHEDULED", "PENDING", "RUNNING", "COMPLETED"}
