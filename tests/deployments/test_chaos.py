"""Chaos on a real embedded stack of its own: processes die where it hurts most.

Its own Prefect server (SQLite), served deployments and API, with short lifecycle
periods (reconcile every 5 s, a launch lease of 5 s, heartbeats every second, stale after
10 s) so that the bound the README states, scaled down, holds within a test's patience.
Processes are held at failpoints (report_exports/failpoints.py) and then SIGKILLed.
After each case, read from the job store itself: every job terminal within the bound,
none duplicated, no file without a job that owns it, and the identical request answered
by a new, succeeding job wherever the first one failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from demo_data.accounts import seed_accounts
from deployments.stack import wait_for_api, wait_for_deployment
from jobstore.models import ExportJob
from jobstore.store import init_store
from report_exports.database import engine_for
from report_exports.settings import PROJECT_ROOT
from tests.conftest import TEST_VAR

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

BIN = Path(sys.executable).parent
TERMINAL = {"succeeded", "failed", "cancelled", "expired"}
BOUND_SECONDS = 60.0
"""Terminal within: lease 5 + stale 10 + reconcile period 5 + the run itself, doubled."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ChaosStack:
    """The chaos stack's processes and where they listen."""

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
        _wait(lambda: _healthy(f"{self.prefect_url}/health"), 120, "the Prefect server")

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


def _wait(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture(scope="module")
def chaos(demo_source: str) -> Iterator[ChaosStack]:
    var = TEST_VAR / "chaos"
    (var / "failpoints").mkdir(parents=True)
    (var / "log").mkdir()
    prefect_port, api_port = _free_port(), _free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(var / "prefect"),
        "PREFECT_API_URL": f"http://127.0.0.1:{prefect_port}/api",
        "REPORT_EXPORTS_VAR_DIR": str(var),
        "REPORT_EXPORTS_SOURCE_URL": demo_source,
        "REPORT_EXPORTS_API_PORT": str(api_port),
        "REPORT_EXPORTS_PREFECT_PORT": str(prefect_port),
        "REPORT_EXPORTS_RUNNER_POLL_SECONDS": "1",
        "REPORT_EXPORTS_RECONCILE_SECONDS": "5",
        "REPORT_EXPORTS_LAUNCH_LEASE_SECONDS": "5",
        "REPORT_EXPORTS_JOB_HEARTBEAT_SECONDS": "1",
        "REPORT_EXPORTS_JOB_STALE_AFTER_SECONDS": "10",
        "REPORT_EXPORTS_FAILPOINT_DIR": str(var / "failpoints"),
        "REPORT_EXPORTS_SERVE_LIMIT": "8",
        # Production-sized chunks: the session's 200-row chunks make every export dozens of
        # task runs, whose state writes alone lock the Prefect server's SQLite under a burst.
        "REPORT_EXPORTS_CHUNK_ROWS": "250000",
    }
    jobs_url = f"sqlite:///{var / 'jobs.db'}"
    env["REPORT_EXPORTS_DATABASE_URL"] = jobs_url
    engine = engine_for(jobs_url)
    init_store(engine)
    keys = seed_accounts(engine, var / "demo-api-keys.json")
    stack = ChaosStack(var, env, api_port, prefect_port, keys, engine)
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


def _create(stack: ChaosStack, to: str, account: str = "acme") -> int:
    body = {"report_type": "full-v21", "format": "csv", "env": "test", "from": "2025-11-01"}
    response = stack.vh(account).post("/api/reports/exports", json={**body, "to": to})
    assert response.status_code in (200, 201), response.text
    return int(response.json()["id"])


def _all_terminal(stack: ChaosStack, ids: list[int], bound: float = BOUND_SECONDS) -> list[Any]:
    started = time.monotonic()
    rows = _wait(
        lambda: (rows := stack.rows(ids)) and all(r.state in TERMINAL for r in rows) and rows,
        bound,
        f"jobs {ids} to be terminal (job rows)",
    )
    print(f"{len(ids)} jobs terminal {time.monotonic() - started:.1f} s after the fault")
    return rows


def _no_orphan_files(stack: ChaosStack) -> None:
    files = stack.var / "files" / "exports"
    on_disk = {str(p.relative_to(stack.var / "files")) for p in files.rglob("*") if p.is_file()}
    with stack.engine.connect() as conn:
        owned = set(
            conn.execute(
                select(ExportJob.storage_key).where(
                    ExportJob.state == "succeeded", ExportJob.storage_key.is_not(None)
                )
            ).scalars()
        )
    assert on_disk <= owned, f"files no succeeded job owns: {sorted(on_disk - owned)}"


def _runner_pid(stack: ChaosStack, job_id: int) -> int:
    row = _wait(lambda: (r := stack.row(job_id)).runner and r, 60, f"job {job_id} to run")
    return int(row.runner.rsplit(":", 1)[1])


def _again_succeeds(stack: ChaosStack, to: str, old: int) -> None:
    new = _create(stack, to)
    assert new != old, "the failed job was handed back instead of a new one"
    (row,) = _all_terminal(stack, [new], bound=120)
    assert row.state == "succeeded", (row.state, row.error_message)


def test_api_killed_between_insert_and_launch(chaos: ChaosStack) -> None:
    armed = chaos.arm("before-launch")
    ids = [_create(chaos, f"2025-11-{day:02d}") for day in (2, 3, 4)]
    _wait(
        lambda: all(r.launch_attempts >= 1 and r.flow_run_id is None for r in chaos.rows(ids)),
        30,
        "the API to claim the launches",
    )
    chaos.stop("api", signal.SIGKILL)
    armed.unlink()
    try:
        rows = _all_terminal(chaos, ids)
        assert [r.state for r in rows] == ["succeeded"] * 3, [r.error_message for r in rows]
        for job_id in ids:
            assert len(chaos.runs_of(job_id)) == 1, f"job {job_id} ran more than once"
        _no_orphan_files(chaos)
    finally:
        chaos.start_api()


def test_flow_run_killed_while_running(chaos: ChaosStack) -> None:
    armed = chaos.arm("after-start")
    job_id = _create(chaos, "2025-11-05")
    try:
        pid = _runner_pid(chaos, job_id)
        os.kill(pid, signal.SIGKILL)
    finally:
        armed.unlink()
    (row,) = _all_terminal(chaos, [job_id])
    assert row.state == "failed" and row.error_message.startswith("run crashed"), row
    assert row.dedupe_key is None
    _no_orphan_files(chaos)
    _again_succeeds(chaos, "2025-11-05", job_id)


def test_flow_run_killed_between_publish_and_record(chaos: ChaosStack) -> None:
    armed = chaos.arm("before-record")
    job_id = _create(chaos, "2025-11-06")
    try:
        pid = _runner_pid(chaos, job_id)
        row = _wait(
            lambda: (
                (r := chaos.row(job_id)).storage_key
                and (chaos.var / "files" / r.storage_key).exists()
                and r
            ),
            60,
            "the file to be published",
        )
        published = chaos.var / "files" / row.storage_key
        os.kill(pid, signal.SIGKILL)
    finally:
        armed.unlink()
    (row,) = _all_terminal(chaos, [job_id])
    assert row.state == "failed", row
    _wait(lambda: not published.exists(), BOUND_SECONDS, "the orphan file to be deleted")
    assert chaos.row(job_id).storage_key is None
    _no_orphan_files(chaos)
    _again_succeeds(chaos, "2025-11-06", job_id)


def test_prefect_server_restarted_with_exports_running(chaos: ChaosStack) -> None:
    armed = chaos.arm("after-start")
    ids = [_create(chaos, f"2025-11-{day:02d}") for day in (7, 8, 9, 10)]
    for job_id in ids:
        _runner_pid(chaos, job_id)
    chaos.stop("prefect")
    time.sleep(5)
    chaos.start_prefect()
    armed.unlink()
    rows = _all_terminal(chaos, ids, bound=120)
    print("after the Prefect restart:", [(r.id, r.state, r.error_message) for r in rows])
    for job_id in ids:
        assert len(chaos.runs_of(job_id)) <= 1
    _no_orphan_files(chaos)
    for row in rows:
        if row.state != "succeeded":
            _again_succeeds(chaos, f"2025-11-{ids.index(row.id) + 7:02d}", row.id)


async def _burst(stack: ChaosStack, count: int, first_day: int) -> tuple[list[float], list[int]]:
    key = stack.keys["initech"]["admin"]
    async with httpx.AsyncClient(
        base_url=stack.api_url, headers={"authorization": f"Bearer {key}"}, timeout=120
    ) as client:

        async def one(n: int) -> tuple[float, int]:
            to = date(2025, 1, 1) + timedelta(days=first_day + n)  # distinct exports
            body = {
                "report_type": "full-v21",
                "format": "csv",
                "env": "test",
                "from": "2025-01-01",
                "to": to.isoformat(),
            }
            started = time.monotonic()
            response = await client.post("/api/reports/exports", json=body)
            assert response.status_code == 201, response.text
            return time.monotonic() - started, int(response.json()["id"])

        results = await asyncio.gather(*(one(n) for n in range(count)))
    return [r[0] for r in results], [r[1] for r in results]


def test_a_burst_of_creates_is_answered_fast_and_loses_nothing(chaos: ChaosStack) -> None:
    """100 concurrent creates of distinct exports: answered without waiting on Prefect.

    Only the create half is asserted. Running all 100 to completion on the embedded
    Prefect server (SQLite) is not yet absorbed: its database locks under the runs' state
    writes and launches meet 503s for minutes (issue #12, left open for it).
    """
    count = 100
    latencies, ids = asyncio.run(_burst(chaos, count, first_day=0))
    latencies.sort()
    p50 = statistics.median(latencies)
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    print(f"{count} concurrent creates: p50 {p50:.2f} s, p99 {p99:.2f} s")
    assert len(set(ids)) == count
    # Measured alone on 2 cores: p99 1.6-2.7 s; before the outbox creates waited on the
    # launch (up to 130 s). The bound leaves room for a loaded CI machine.
    assert p99 < 4.0, f"p99 create latency {p99:.2f} s"
    rows = chaos.rows(ids)
    assert len(rows) == count, "every answered create has its job row"
    assert all(r.state in {"queued", "running", "succeeded"} for r in rows)
