"""Prefect unreachable when a job is created: the create still answers at once (the job
is its own outbox entry), the launch is delivered once Prefect answers, and a launch that
can never be made fails the job with a message a client can read and frees its dedupe key.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from deployments.stack import wait_for_api
from jobstore.models import ExportJob, JobState
from jobstore.store import get_job, job_engine
from submission.delivery import COULD_NOT_START
from tests.conftest import TEST_VAR
from tests.factories import DECEMBER


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _api_process(prefect_port: int, **settings: str) -> Iterator[str]:
    """A second API process whose Prefect server address answers nothing."""
    port = _free_port()
    env = {
        **os.environ,
        **settings,
        "PREFECT_API_URL": f"http://127.0.0.1:{prefect_port}/api",
        "REPORT_EXPORTS_API_PORT": str(port),
    }
    log = (TEST_VAR / "log" / "api-no-prefect.log").open("ab")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "api_shim.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        wait_for_api(f"http://127.0.0.1:{port}")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


@pytest.fixture
def api_without_prefect(stack) -> Iterator[str]:
    """An API process that cannot reach Prefect, with the usual launch deadline."""
    yield from _api_process(_free_port())


@pytest.fixture
def api_that_gives_up(stack) -> Iterator[str]:
    """An API process that cannot reach Prefect and gives a launch one second."""
    yield from _api_process(
        _free_port(),
        REPORT_EXPORTS_LAUNCH_DEADLINE_SECONDS="1",
        REPORT_EXPORTS_LAUNCH_MIN_ATTEMPTS="2",
    )


def _wait_terminal(api_id: str | int, timeout: float) -> ExportJob:
    """The job row behind an id a surface showed (VerifyHuman: integer; webhooks: UUID)."""
    match = ExportJob.id == int(api_id) if str(api_id).isdigit() else ExportJob.public_id == api_id
    deadline = time.monotonic() + timeout
    while True:
        with job_engine().connect() as conn:
            job = conn.execute(ExportJob.__table__.select().where(match)).one()
        if job.state in {"succeeded", "failed", "cancelled"} or time.monotonic() > deadline:
            return job
        time.sleep(0.5)


def test_a_create_while_prefect_is_down_is_accepted_and_launched_later(
    stack, api_without_prefect
) -> None:
    key = stack.keys["globex"]["admin"]
    started = time.monotonic()
    response = httpx.post(
        f"{api_without_prefect}/api/reports/exports",
        headers={"authorization": f"Bearer {key}"},
        json={"report_type": "usage", "format": "csv", **DECEMBER, "env": "test"},
        timeout=60,
    )
    elapsed = time.monotonic() - started
    assert response.status_code == 201, response.text
    assert elapsed < 2.0, f"the create waited {elapsed:.1f}s on an absent Prefect server"
    body = response.json()
    assert body["status"] == "queued"
    # This API process cannot launch it; the stack's reconciler does, within its period.
    job = _wait_terminal(body["id"], timeout=120)
    assert job.state == "succeeded", (job.state, job.error_message)
    assert job.flow_run_id is not None
    assert job.launch_attempts >= 1


def test_a_launch_that_never_succeeds_fails_the_job_and_frees_its_request(
    stack, api_that_gives_up
) -> None:
    key = stack.keys["globex"]["admin"]
    headers = {"authorization": f"Bearer {key}"}
    window = {"start_time": "2025-12-04T00:00:00Z", "end_time": "2025-12-04T23:59:59Z"}
    first = httpx.post(f"{api_that_gives_up}/v1/exports", headers=headers, json=window, timeout=60)
    assert first.status_code == 201, first.text
    job_id = first.json()["data"]["id"]
    # Its own delivery gives up after a second, before the stack's reconciler looks.
    row = _wait_terminal(job_id, timeout=30)
    assert row.state == JobState.FAILED, row.state
    assert row.flow_run_id is None
    assert row.error_message == COULD_NOT_START
    assert row.dedupe_key is None
    assert "ConnectError" in (get_job(job_engine(), row.id).error_detail or "")  # operators
    seen = httpx.get(f"{stack.base_url}/v1/exports/{job_id}", headers=headers, timeout=30)
    assert seen.status_code == 200
    assert seen.json()["data"]["status"] == "failed"
    assert "127.0.0.1" not in seen.text and "Prefect" not in seen.text
    # The identical request is a new job, and this one runs.
    again = httpx.post(f"{stack.base_url}/v1/exports", headers=headers, json=window, timeout=60)
    assert again.status_code == 201, again.text
    new_id = again.json()["data"]["id"]
    assert new_id != job_id
    assert _wait_terminal(new_id, timeout=120).state == JobState.SUCCEEDED
