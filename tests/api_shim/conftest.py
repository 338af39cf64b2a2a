"""A running stack for HTTP tests: served deployments and the API, as separate processes."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.conftest import TEST_VAR


@dataclass(frozen=True)
class RunningStack:
    """Where the API is and the demo keys (account → role → key)."""

    base_url: str
    keys: dict[str, dict[str, str]]
    serve_pid: int

    def client(self, account: str = "acme", role: str = "admin", surface: str = "vh"
               ) -> httpx.Client:
        """An HTTP client authenticated the way ``surface`` expects."""
        key = self.keys[account][role]
        headers = {"x-api-key": key} if surface == "he" else {"authorization": f"Bearer {key}"}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30)


@pytest.fixture(scope="session")
def stack(prefect_server: str, demo_source: str) -> Iterator[RunningStack]:
    """Served deployments plus the API on a free port, for the whole session."""
    from demo_data.accounts import seed_accounts
    from deployments.stack import start_stack
    from jobstore.store import init_store, job_engine
    from report_exports.settings import get_settings

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    os.environ["REPORT_EXPORTS_API_PORT"] = str(port)
    os.environ["REPORT_EXPORTS_RUNNER_POLL_SECONDS"] = "1"
    get_settings.cache_clear()
    init_store(job_engine())
    keys = seed_accounts(job_engine(), TEST_VAR / "demo-api-keys.json")
    running = start_stack(get_settings())
    try:
        yield RunningStack(running.api_url, keys, running.processes[0].pid)
    finally:
        running.stop()
