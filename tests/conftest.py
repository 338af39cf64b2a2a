"""Session set-up: an isolated var/ dir, one real Prefect server, one demo source.

Environment variables are set here, at import, because prefect reads them when it is
first imported (test modules import flows at collection time).
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
TEST_ROOT = ROOT / "var" / "test"
TEST_VAR = TEST_ROOT / f"session-{os.getpid()}"  # concurrent sessions must not share state


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _remove_stale_sessions() -> None:
    for old in TEST_ROOT.glob("session-*"):
        pid = int(old.name.removeprefix("session-"))
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(old, ignore_errors=True)
        except PermissionError:
            pass


TEST_ROOT.mkdir(parents=True, exist_ok=True)
_remove_stale_sessions()
TEST_VAR.mkdir(parents=True)
PREFECT_PORT = _free_port()
os.environ.update(
    {
        "REPORT_EXPORTS_VAR_DIR": str(TEST_VAR),
        "REPORT_EXPORTS_DEMO_ROWS": "20000",
        "REPORT_EXPORTS_CHUNK_ROWS": "200",  # many chunks even on small data
        "REPORT_EXPORTS_EXTRACT_RETRY_DELAY_SECONDS": "0.2",
        "REPORT_EXPORTS_PREFECT_PORT": str(PREFECT_PORT),
        "PREFECT_HOME": str(TEST_VAR / "prefect"),
        "PREFECT_API_URL": f"http://127.0.0.1:{PREFECT_PORT}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_LOGGING_TO_API_ENABLED": "false",  # the server stops before the last flush
        "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5",  # schedules produce runs soon
        # Webhook receivers of the tests listen on loopback over http; retries come fast.
        "REPORT_EXPORTS_WEBHOOK_ALLOW_HTTP_LOOPBACK": "true",
        "REPORT_EXPORTS_WEBHOOK_RETRY_BASE_SECONDS": "0.5",
        "REPORT_EXPORTS_WEBHOOK_TIMEOUT_SECONDS": "3",
    }
)
os.environ.pop("REPORT_EXPORTS_SOURCE_URL", None)
os.environ.pop("REPORT_EXPORTS_DATABASE_URL", None)
os.environ.pop("REPORT_EXPORTS_STORAGE_URL", None)


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[str]:
    """A real Prefect server for the whole session (started on first use)."""
    from deployments.local_server import is_healthy, start_server
    from report_exports.settings import get_settings

    settings = get_settings()
    api_url = os.environ["PREFECT_API_URL"]
    process = start_server(settings, PREFECT_PORT, TEST_VAR / "log" / "prefect-server.log")
    import time

    deadline = time.monotonic() + 120
    while not is_healthy(api_url):
        assert process.poll() is None, "the Prefect server exited; see var/test/log"
        assert time.monotonic() < deadline, "the Prefect server did not start in 120 s"
        time.sleep(0.5)
    yield api_url
    os.killpg(process.pid, 15)
    process.wait(timeout=30)


@pytest.fixture(scope="session")
def demo_source() -> str:
    """The demo source database of the session (20,000 verification events)."""
    from demo_data.generate import ensure_demo_source
    from report_exports.settings import get_settings

    settings = get_settings()
    ensure_demo_source(settings.source_url, settings.demo_rows)
    return settings.source_url


@pytest.fixture(scope="session")
def demo_db_path(demo_source: str) -> Path:
    """Filesystem path of the demo SQLite source (for independent sqlite3 queries)."""
    return Path(demo_source.removeprefix("sqlite:///"))


@dataclass(frozen=True)
class RunningStack:
    """Where the API is and the demo keys (account → role → key)."""

    base_url: str
    keys: dict[str, dict[str, str]]
    serve_pid: int

    def client(
        self, account: str = "acme", role: str = "admin", surface: str = "vh"
    ) -> httpx.Client:
        """An HTTP client authenticated the way ``surface`` expects."""
        from tests.api_shim.http_checks import HTTP_TIMEOUT

        key = self.keys[account][role]
        headers = {"x-api-key": key} if surface == "he" else {"authorization": f"Bearer {key}"}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=HTTP_TIMEOUT)


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


@pytest.fixture(
    scope="session", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def team_stack(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A stack of its own with a team's reports and a fourth surface, on SQLite and PostgreSQL
    sources (tests/private_stack.py): tests/examples and tests/surfaces share it."""
    from tests.private_stack import team_stack

    with team_stack(request.param, TEST_VAR / f"team-{request.param}") as stack:
        yield stack
