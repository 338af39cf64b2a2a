"""The production path on one machine: PostgreSQL for everything, prefect.yaml on a work pool.

One Prefect server on PostgreSQL, the job store and the source on PostgreSQL,
``report-exports deploy`` (work pool, crash automation, ``prefect deploy --all``), two
``prefect worker`` processes and the API. Exports are created through the API.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from demo_data.accounts import seed_accounts
from demo_data.generate import generate
from deployments.stack import start_api, wait_for_api
from deployments.work_pool import WORK_POOL
from jobstore.models import ExportJob
from jobstore.store import init_store
from report_exports.database import engine_for
from report_exports.settings import PROJECT_ROOT, Settings
from tests.conftest import TEST_VAR
from tests.postgres import libpq, scratch_database, server_url

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

BIN = Path(sys.executable).parent
FINAL = {"succeeded", "failed", "cancelled"}
ACCOUNT_LIMIT = 2
CRASH_AFTER = 45


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Cluster:
    """The running production-style set-up."""

    env: dict[str, str]
    api_url: str
    prefect_url: str
    source_url: str
    jobs_url: str
    var: Path
    keys: dict[str, dict[str, str]]
    workers: list[subprocess.Popen[bytes]]

    def client(self, account: str) -> httpx.Client:
        """A VerifyHuman client of ``account``'s admin key."""
        key = self.keys[account]["admin"]
        return httpx.Client(
            base_url=self.api_url, headers={"authorization": f"Bearer {key}"}, timeout=30
        )

    def prefect(self, method: str, path: str, **kwargs: Any) -> Any:
        """One call to the Prefect server's REST API."""
        response = httpx.request(method, f"{self.prefect_url}{path}", timeout=30, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            args,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=PROJECT_ROOT,
        )


def _wait(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if result := check():
                return result
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (flow runs start in their own sessions)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def _start_worker(env: dict[str, str], var: Path, name: str) -> subprocess.Popen[bytes]:
    args = [str(BIN / "prefect"), "worker", "start", "--pool", WORK_POOL, "--name", name]
    return _spawn([*args, "--limit", "4"], env, var / "log" / f"{name}.log")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    server = server_url()
    with (
        scratch_database(server, "rex_prefect") as prefect_db,
        scratch_database(server, "rex_jobs") as jobs_db,
        scratch_database(server, "rex_source") as source_db,
    ):
        var = TEST_VAR / "work-pool"
        prefect_port, api_port = _free_port(), _free_port()
        prefect_url = f"http://127.0.0.1:{prefect_port}/api"
        env = {
            **os.environ,
            "PREFECT_HOME": str(var / "prefect"),
            "PREFECT_API_URL": prefect_url,
            "PREFECT_API_DATABASE_CONNECTION_URL": make_url(prefect_db)
            .set(drivername="postgresql+asyncpg")
            .render_as_string(hide_password=False),
            "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5",
            "PREFECT_WORKER_QUERY_SECONDS": "1",
            "PREFECT_LOGGING_LEVEL": "INFO",
            "REPORT_EXPORTS_VAR_DIR": str(var),
            "REPORT_EXPORTS_DATABASE_URL": jobs_db,
            "REPORT_EXPORTS_SOURCE_URL": source_db,
            "REPORT_EXPORTS_API_PORT": str(api_port),
            "REPORT_EXPORTS_ACCOUNT_CONCURRENCY": str(ACCOUNT_LIMIT),
            "REPORT_EXPORTS_CRASH_AFTER_SECONDS": str(CRASH_AFTER),
            "REPORT_EXPORTS_CHUNK_ROWS": "1000",
        }
        generate(source_db, 4000, seed=5)
        init_store(engine_for(jobs_db))
        keys = seed_accounts(engine_for(jobs_db), var / "demo-api-keys.json")
        server_cmd = [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1"]
        processes = [
            _spawn([*server_cmd, "--port", str(prefect_port)], env, var / "log" / "prefect.log")
        ]
        try:
            _wait(
                lambda: httpx.get(f"{prefect_url}/health", timeout=2).is_success,
                180,
                "the Prefect server on PostgreSQL",
            )
            subprocess.run(
                [str(BIN / "report-exports"), "deploy"],
                env=env,
                cwd=PROJECT_ROOT,
                check=True,
                capture_output=True,
                timeout=300,
            )
            workers = [_start_worker(env, var, f"worker-{n}") for n in (1, 2)]
            processes += workers
            settings = Settings(var_dir=var, api_port=api_port)
            processes.append(start_api(settings, env))
            wait_for_api(settings.base_url)
            yield Cluster(
                env, settings.base_url, prefect_url, source_db, jobs_db, var, keys, workers
            )
        finally:
            for process in reversed(processes):
                for pid in _process_tree(process.pid):
                    _signal(pid, signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _poll(client: httpx.Client, job_id: int, timeout: float) -> dict[str, Any]:
    return _wait(
        lambda: (
            (body := client.get(f"/api/reports/exports/{job_id}").json())["status"] in FINAL
            and body
        ),
        timeout,
        f"job {job_id} to finish",
    )


def _runs(cluster: Cluster, deployment: str) -> list[dict[str, Any]]:
    found = cluster.prefect("GET", f"/deployments/name/{deployment}")
    return cluster.prefect(
        "POST",
        "/flow_runs/filter",
        json={"deployments": {"id": {"any_": [found["id"]]}}, "limit": 200},
    )


def _max_overlap(intervals: list[tuple[datetime, datetime]]) -> int:
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = peak = 0
    for _, step in edges:  # an end sorts before a start at the same instant
        running += step
        peak = max(peak, running)
    return peak


def test_twenty_exports_on_two_workers_all_succeed_once(cluster: Cluster) -> None:
    accounts = ["acme"] * 12 + ["globex"] * 4 + ["initech"] * 4
    created = []
    for n, account in enumerate(accounts):
        body = {
            "report_type": "full-v21",
            "format": "csv",
            "env": "live",
            "from": "2025-11-01",
            "to": f"2025-12-{n + 1:02d}",
        }
        response = cluster.client(account).post("/api/reports/exports", json=body)
        assert response.status_code == 201, response.text
        created.append((account, response.json()["id"]))
    finished = [_poll(cluster.client(a), job_id, 420) for a, job_id in created]
    assert [f["status"] for f in finished] == ["succeeded"] * 20, finished

    runs = _runs(cluster, "export-report/export-report")
    assert len(runs) == 20
    assert {r["state_type"] for r in runs} == {"COMPLETED"}
    assert {r["run_count"] for r in runs} == {1}
    for run in runs:
        states = cluster.prefect("GET", "/flow_run_states/", params={"flow_run_id": run["id"]})
        assert [s["type"] for s in states].count("RUNNING") == 1, "a run started twice"
    # Both workers may try a run; the server lets exactly one start it.
    started: Counter[str] = Counter()
    for n in (1, 2):
        log = (cluster.var / "log" / f"worker-{n}.log").read_text()
        mine = {r["name"] for r in runs if f"'{r['name']}' submitted to infrastructure" in log}
        assert mine, f"worker-{n} started no run"
        started.update(mine)
    assert sorted(started) == sorted(r["name"] for r in runs)
    assert set(started.values()) == {1}
    # Runs went to their account's queue, which carries the account's limit ...
    assert {r["work_queue_name"] for r in runs} == {"account-1", "account-2", "account-3"}
    queue = cluster.prefect("GET", f"/work_pools/{WORK_POOL}/queues/account-1")
    assert queue["concurrency_limit"] == ACCOUNT_LIMIT
    # ... and one account never had more than its limit of exports working at once.
    with engine_for(cluster.jobs_url).connect() as conn:
        spans = conn.execute(
            select(ExportJob.started_at, ExportJob.completed_at).where(ExportJob.account_id == 1)
        ).all()
    assert len(spans) == 12
    assert _max_overlap([(start, end) for start, end in spans]) <= ACCOUNT_LIMIT


def test_recurring_export_creates_a_job_in_the_accounts_list(cluster: Cluster) -> None:
    deployment = cluster.prefect(
        "GET", "/deployments/name/recurring-export/acme-daily-verifications"
    )
    (schedule,) = deployment["schedules"]
    assert schedule["active"] is False  # the example ships inactive
    every_minute = {"cron": "* * * * *", "timezone": "Europe/Berlin"}
    path = f"/deployments/{deployment['id']}/schedules/{schedule['id']}"
    cluster.prefect("PATCH", path, json={"active": True, "schedule": every_minute})
    berlin_yesterday = (datetime.now(ZoneInfo("Europe/Berlin")) - timedelta(days=1)).date()
    acme = cluster.client("acme")
    before = {j["id"] for j in _listed(acme)}

    try:
        new = _wait(
            lambda: [j for j in _listed(acme) if j["id"] not in before],
            150,
            "the scheduled export to appear in acme's list",
        )
    finally:
        cluster.prefect("PATCH", path, json={"active": False})
    job = acme.get(f"/api/reports/exports/{new[0]['id']}").json()
    assert job["report_type"] == "full-v21" and job["format"] == "csv"
    assert job["params"] == {
        "env": "live",
        "from": berlin_yesterday.isoformat(),
        "to": berlin_yesterday.isoformat(),
    }
    assert _poll(acme, job["id"], 240)["status"] == "succeeded"
    # Later runs of the same period found that job instead of making another.
    recurring = _runs(cluster, "recurring-export/acme-daily-verifications")
    assert {r["state_type"] for r in recurring} >= {"COMPLETED"}
    assert [j["id"] for j in _listed(acme) if j["id"] not in before] == [job["id"]]


def _listed(client: httpx.Client) -> list[dict[str, Any]]:
    return client.get("/api/reports/exports", params={"per_page": 100}).json()["exports"]


def _job_rows(cluster: Cluster, ids: list[int]) -> list[Any]:
    try:
        with engine_for(cluster.jobs_url).connect() as conn:
            return list(
                conn.execute(
                    select(ExportJob.id, ExportJob.state, ExportJob.error_message).where(
                        ExportJob.id.in_(ids)
                    )
                )
            )
    except Exception:  # the server is still restarting
        return []


def test_postgresql_restarted_under_exports_every_job_ends_and_again_succeeds(
    cluster: Cluster,
) -> None:
    """The PostgreSQL server of everything (Prefect, job store, source) restarts mid-export."""
    if shutil.which("pg_ctlcluster") is None or os.geteuid() != 0:
        pytest.skip("restarting the cluster needs pg_ctlcluster as root (as .ci/run has)")
    bodies = [
        {"report_type": "full-v21", "format": "csv", "env": "test", "from": "2025-10-01"}
        | {"to": f"2025-11-{day:02d}"}
        for day in (10, 11, 12, 13)
    ]
    acme = cluster.client("acme")
    ids = [acme.post("/api/reports/exports", json=body).json()["id"] for body in bodies]
    _wait(
        lambda: any(r.state == "running" for r in _job_rows(cluster, ids)), 120, "an export to run"
    )
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", "15", "main", "restart"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    restarted = time.monotonic()
    bound = 30 + 90 + 30 + 60  # lease + stale + reconcile (README), and the runs themselves
    rows = _wait(
        lambda: (r := _job_rows(cluster, ids)) and all(x.state in FINAL for x in r) and r,
        bound,
        "every job to end after the restart",
    )
    print(f"{len(ids)} jobs terminal {time.monotonic() - restarted:.1f} s after the restart:")
    print({row.id: row.state for row in rows})
    for row, body in zip(sorted(rows, key=lambda r: r.id), bodies, strict=True):
        if row.state == "succeeded":
            continue
        again = acme.post("/api/reports/exports", json=body)
        assert again.status_code == 201, again.text
        assert again.json()["id"] != row.id
        assert _poll(acme, again.json()["id"], 240)["status"] == "succeeded"
    names = [r["name"] for r in _runs(cluster, "export-report/export-report")]
    for job_id in ids:
        assert names.count(f"export job {job_id}") == 1, f"job {job_id} launched twice"


def test_killed_worker_and_flow_run_read_failed_and_publish_nothing(cluster: Cluster) -> None:
    # Hold the source table so the run stays in extraction until its processes are killed.
    with psycopg.connect(libpq(cluster.source_url)) as lock:
        lock.execute("LOCK TABLE verification_events IN ACCESS EXCLUSIVE MODE")
        body = {
            "report_type": "full-v21",
            "format": "csv",
            "env": "test",
            "from": "2025-11-01",
            "to": "2025-11-30",
        }
        acme = cluster.client("acme")
        job = acme.post("/api/reports/exports", json=body).json()
        _wait(
            lambda: acme.get(f"/api/reports/exports/{job['id']}").json()["status"] == "running",
            120,
            "the export to start",
        )
        running = [
            r for r in _runs(cluster, "export-report/export-report") if r["state_type"] == "RUNNING"
        ]
        assert len(running) == 1
        _wait(lambda: _heartbeats(cluster, running[0]["id"]), 60, "a first heartbeat")
        for worker in cluster.workers:
            for pid in _process_tree(worker.pid):
                _signal(pid, signal.SIGKILL)
        killed_at = time.monotonic()
        lock.rollback()
    done = _poll(acme, job["id"], 150)
    assert time.monotonic() - killed_at < 120
    assert done["status"] == "failed"
    assert done["error"] == "run crashed: the export process stopped before it finished", done
    with engine_for(cluster.jobs_url).connect() as conn:
        row = conn.execute(
            select(ExportJob.state, ExportJob.dedupe_key, ExportJob.error_detail).where(
                ExportJob.id == job["id"]
            )
        ).one()
    assert row.state == "failed" and row.dedupe_key is None, row
    assert row.error_detail, "operators see why the run crashed"
    assert "download_url" not in done
    published = cluster.var / "files" / "exports" / "account-1" / f"job-{job['id']}"
    assert not published.exists()


def _heartbeats(cluster: Cluster, flow_run_id: str) -> bool:
    events = cluster.prefect(
        "POST",
        "/events/filter",
        json={
            "filter": {
                "event": {"name": ["prefect.flow-run.heartbeat"]},
                "resource": {"id": [f"prefect.flow-run.{flow_run_id}"]},
                "occurred": {"since": (datetime.now(UTC) - timedelta(hours=1)).isoformat()},
            },
            "limit": 5,
        },
    )
    return bool(events["events"])
