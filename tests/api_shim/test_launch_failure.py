"""Prefect unreachable when a job is created: 503 in the surface's shape, and the job is
recorded failed (never left queued with nothing to run it)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from deployments.stack import wait_for_api
from jobstore.models import ExportJob
from jobstore.store import job_engine
from tests.conftest import TEST_VAR
from tests.factories import DECEMBER


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def api_without_prefect(stack) -> Iterator[str]:
    """A second API process whose Prefect server address answers nothing."""
    port = _free_port()
    env = {
        **os.environ,
        "PREFECT_API_URL": f"http://127.0.0.1:{_free_port()}/api",
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


def test_create_while_prefect_is_down_is_503_and_the_job_is_failed(
    stack, api_without_prefect
) -> None:
    key = stack.keys["globex"]["admin"]
    response = httpx.post(
        f"{api_without_prefect}/api/reports/exports",
        headers={"authorization": f"Bearer {key}"},
        json={"report_type": "usage", "format": "pdf", **DECEMBER, "env": "test"},
        timeout=60,
    )
    assert response.status_code == 503
    assert response.json() == {"error": "Export service temporarily unavailable; try again shortly"}
    webhooks = httpx.post(
        f"{api_without_prefect}/v1/exports",
        headers={"authorization": f"Bearer {key}"},
        json={"start_time": "2025-12-03T00:00:00Z", "end_time": "2025-12-03T23:59:59Z"},
        timeout=60,
    )
    assert webhooks.status_code == 503
    assert webhooks.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    with job_engine().connect() as conn:
        newest = conn.execute(
            select(ExportJob.state, ExportJob.error_message, ExportJob.surface)
            .order_by(ExportJob.id.desc())
            .limit(2)
        ).all()
    assert {row.surface for row in newest} == {"verifyhuman", "webhooks"}
    for state, message, _ in newest:
        assert state == "failed" and "could not launch" in message
    # The failed job does not block an identical request once Prefect is back.
    again = httpx.post(
        f"{stack.base_url}/v1/exports",
        headers={"authorization": f"Bearer {key}"},
        json={"start_time": "2025-12-03T00:00:00Z", "end_time": "2025-12-03T23:59:59Z"},
        timeout=60,
    )
    assert again.status_code == 201
