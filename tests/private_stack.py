"""A whole stack of a test's own: Prefect server (SQLite), served deployments and the API.

For tests that kill its processes (tests/deployments/test_chaos.py) or need settings the
session stack cannot have, such as a team's own report catalog (tests/examples/). Its
processes run from the project root with the environment given; it has its own job store
(SQLite) with the demo accounts, and its own var/ folder.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, select

from demo_data.accounts import seed_accounts
from deployments.stack import wait_for_api, wait_for_deployment
from jobstore.models import ExportJob
from jobstore.store import init_store
from report_exports.database import engine_for
from report_exports.settings import PROJECT_ROOT, prefect_database_connection_url

BIN = Path(sys.executable).parent
TERMINAL = {"succeeded", "failed", "cancelled", "expired"}
BOUND_SECONDS = 60.0
"""Terminal within, at the chaos periods (lease 5 + stale 10 + reconcile 5 s, and the run
itself), doubled."""
CHAOS_PERIODS = {
    "REPORT_EXPORTS_RECONCILE_SECONDS": "5",
    "REPORT_EXPORTS_LAUNCH_LEASE_SECONDS": "5",
    "REPORT_EXPORTS_JOB_HEARTBEAT_SECONDS": "1",
    "REPORT_EXPORTS_JOB_STALE_AFTER_SECONDS": "10",
}
"""The lifecycle periods of a chaos stack: the README's bound, scaled down."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PrivateStack:
    """A stack's processes and where they listen."""

    var: Path
    env: dict[str, str]
    api_port: int
    prefect_port: int
    keys: dict[str, dict[str, str]]
    engine: Engine
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def prefect_url(self) -> str:
        return f"http://127.0.0.1:{self.prefect_port}/api"

    def spawn(self, name: str, args: list[str]) -> None:
        log = (self.var / "log" / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            args,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=PROJECT_ROOT,
            start_new_session=True,
        )

    def start_prefect(self) -> None:
        server = [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1"]
        self.spawn("prefect", [*server, "--port", str(self.prefect_port)])
        wait(lambda: _healthy(f"{self.prefect_url}/health"), 120, "the Prefect server")

    def start_api(self) -> None:
        args = [sys.executable, "-m", "uvicorn", "api_shim.app:create_app", "--factory"]
        self.spawn("api", [*args, "--host", "127.0.0.1", "--port", str(self.api_port)])
        wait_for_api(self.api_url)

    def stop(self, name: str, signum: int = signal.SIGTERM) -> None:
        process = self.processes.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signum)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)

    def arm(self, failpoint: str) -> Path:
        """Hold processes at ``failpoint`` until the returned file is removed."""
        armed = self.var / "failpoints" / failpoint
        armed.touch()
        return armed

    def vh(self, account: str = "acme") -> httpx.Client:
        key = self.keys[account]["admin"]
        return httpx.Client(
            base_url=self.api_url, headers={"authorization": f"Bearer {key}"}, timeout=60
        )

    def row(self, job_id: int) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(select(ExportJob.__table__).where(ExportJob.id == job_id)).one()

    def rows(self, ids: list[int]) -> list[Any]:
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(ExportJob.__table__).where(ExportJob.id.in_(ids)).order_by(ExportJob.id)
                )
            )

    def runs_of(self, job_id: int) -> list[dict[str, Any]]:
        response = httpx.post(
            f"{self.prefect_url}/flow_runs/filter",
            json={"flow_runs": {"name": {"like_": f"export job {job_id}"}}, "limit": 20},
            timeout=30,
        )
        response.raise_for_status()
        return [r for r in response.json() if r["name"] == f"export job {job_id}"]


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def wait(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


# Helpers of the chaos cases (tests/deployments/test_chaos.py, tests/storage/test_s3_chaos.py).


def _create(stack: PrivateStack, to: str, account: str = "acme") -> int:
    body = {"report_type": "full-v21", "format": "csv", "env": "test", "from": "2025-11-01"}
    response = stack.vh(account).post("/api/reports/exports", json={**body, "to": to})
    assert response.status_code in (200, 201), response.text
    return int(response.json()["id"])


def _all_terminal(stack: PrivateStack, ids: list[int], bound: float = BOUND_SECONDS) -> list[Any]:
    started = time.monotonic()
    rows = wait(
        lambda: (rows := stack.rows(ids)) and all(r.state in TERMINAL for r in rows) and rows,
        bound,
        f"jobs {ids} to be terminal (job rows)",
    )
    print(f"{len(ids)} jobs terminal {time.monotonic() - started:.1f} s after the fault")
    return rows


def _runner_pid(stack: PrivateStack, job_id: int) -> int:
    row = wait(lambda: (r := stack.row(job_id)).runner and r, 60, f"job {job_id} to run")
    return int(row.runner.rsplit(":", 1)[1])


def _again_succeeds(stack: PrivateStack, to: str, old: int) -> None:
    new = _create(stack, to)
    assert new != old, "the failed job was handed back instead of a new one"
    (row,) = _all_terminal(stack, [new], bound=120)
    assert row.state == "succeeded", (row.state, row.error_message)


@contextlib.contextmanager
def private_stack(
    var: Path, source_url: str, *, prefect_database: str = "", **settings: str
) -> Iterator[PrivateStack]:
    """Start a stack in ``var`` reading ``source_url``; ``settings`` are extra variables.

    ``prefect_database``: a PostgreSQL URL for the Prefect server's database (as
    ``REPORT_EXPORTS_PREFECT_DATABASE_URL`` gives ``report-exports up``); empty is SQLite.
    """
    (var / "failpoints").mkdir(parents=True)
    (var / "log").mkdir()
    prefect_port, api_port = free_port(), free_port()
    jobs_url = f"sqlite:///{var / 'jobs.db'}"
    env = {
        **os.environ,
        "PREFECT_HOME": str(var / "prefect"),
        "PREFECT_API_URL": f"http://127.0.0.1:{prefect_port}/api",
        "REPORT_EXPORTS_VAR_DIR": str(var),
        "REPORT_EXPORTS_SOURCE_URL": source_url,
        "REPORT_EXPORTS_DATABASE_URL": jobs_url,
        "REPORT_EXPORTS_API_PORT": str(api_port),
        "REPORT_EXPORTS_PREFECT_PORT": str(prefect_port),
        "REPORT_EXPORTS_RUNNER_POLL_SECONDS": "1",
        "REPORT_EXPORTS_FAILPOINT_DIR": str(var / "failpoints"),
        **settings,
    }
    if prefect_database:
        url = prefect_database_connection_url(prefect_database)
        env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = url
    engine = engine_for(jobs_url)
    init_store(engine)
    keys = seed_accounts(engine, var / "demo-api-keys.json")
    stack = PrivateStack(var, env, api_port, prefect_port, keys, engine)
    try:
        stack.start_prefect()
        stack.spawn("serve", [sys.executable, "-m", "deployments.serve"])
        wait_for_deployment(stack.prefect_url, "export-report/export-report")
        stack.start_api()
        yield stack
    finally:
        for name in ("api", "serve", "prefect"):
            if name in stack.processes:
                stack.stop(name)
        engine.dispose()


TEAM_MODULES = {
    "REPORT_EXPORTS_CATALOG_MODULES": "examples.acme_reports,tests.surfaces.fourth",
    "REPORT_EXPORTS_SURFACE_MODULES": "tests.surfaces.fourth",
}
"""A team's own reports (examples/acme_reports) and a fourth surface (tests/surfaces/fourth.py)."""
TEAM_FIRST_DAY = datetime(2025, 3, 1)
TEAM_ROWS = {1: 3000, 2: 4000}
"""Acme invoices per account id (acme, globex) in the team stack's source."""


@contextlib.contextmanager
def team_stack(kind: str, var: Path) -> Iterator[PrivateStack]:
    """A stack with :data:`TEAM_MODULES` over a source (``sqlite`` or ``postgres``) that
    has Acme's invoices and none of the demo's tables."""
    from examples.acme_reports.tables import create_sample
    from tests.postgres import scratch_database, server_url

    with contextlib.ExitStack() as on_exit:
        if kind == "postgres":
            source_url = on_exit.enter_context(scratch_database(server_url(), "rex_team"))
        else:
            var.mkdir(parents=True)
            source_url = f"sqlite:///{var / 'team-source.db'}"
        source = engine_for(source_url)
        create_sample(source, TEAM_ROWS, TEAM_FIRST_DAY)
        source.dispose()
        yield on_exit.enter_context(private_stack(var, source_url, **TEAM_MODULES))
