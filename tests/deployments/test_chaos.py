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
import statistics
import time
from collections.abc import Iterator
from datetime import date, timedelta

import httpx
import pytest
from sqlalchemy import select

from jobstore.models import ExportJob
from tests.conftest import TEST_VAR
from tests.postgres import URL_VARIABLE, scratch_database, server_url
from tests.private_stack import (
    BOUND_SECONDS,
    CHAOS_PERIODS,
    TERMINAL,
    PrivateStack,
    _again_succeeds,
    _all_terminal,
    _create,
    _runner_pid,
    private_stack,
    wait,
)

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

BURST_SECONDS = 900.0
"""200 small exports, 16 launched at a time, 8 running: 77 took 7 min on 2 cores at load 20."""


ChaosStack = PrivateStack


@pytest.fixture(scope="module")
def chaos(demo_source: str) -> Iterator[ChaosStack]:
    settings = {
        **CHAOS_PERIODS,
        "REPORT_EXPORTS_SERVE_LIMIT": "8",
        # Production-sized chunks: the session's 200-row chunks make every export dozens of
        # task runs, whose state writes alone lock the Prefect server's SQLite under a burst.
        "REPORT_EXPORTS_CHUNK_ROWS": "250000",
    }
    with contextlib.ExitStack() as on_exit:
        prefect_database = ""
        if os.environ.get(URL_VARIABLE):  # CI: the Prefect server on PostgreSQL, as advised
            prefect_database = on_exit.enter_context(scratch_database(server_url(), "rex_prefect"))
        yield on_exit.enter_context(
            private_stack(
                TEST_VAR / "chaos", demo_source, prefect_database=prefect_database, **settings
            )
        )


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


def test_api_killed_between_insert_and_launch(chaos: ChaosStack) -> None:
    armed = chaos.arm("before-launch")
    ids = [_create(chaos, f"2025-11-{day:02d}") for day in (2, 3, 4)]
    wait(
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
        row = wait(
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
    wait(lambda: not published.exists(), BOUND_SECONDS, "the orphan file to be deleted")
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


def test_a_burst_of_creates_is_answered_fast_and_every_job_succeeds_once(
    chaos: ChaosStack,
) -> None:
    """200 concurrent creates of distinct exports on the embedded stack.

    Creates answer without waiting on Prefect (the outbox); launches are held to
    ``launches_in_flight`` jobs at once (backpressure); every job ends succeeded, with one
    flow run each. The stack's Prefect server runs on PostgreSQL (the setting
    ``REPORT_EXPORTS_PREFECT_DATABASE_URL``): on SQLite its database locks under 200
    runs' state writes on a loaded 2-core machine, and launches meet 503s for minutes.
    """
    if not chaos.env.get("PREFECT_SERVER_DATABASE_CONNECTION_URL"):
        pytest.skip(f"200 runs at once need the Prefect server on PostgreSQL ({URL_VARIABLE})")
    count = 200
    started = time.monotonic()
    latencies, ids = asyncio.run(_burst(chaos, count, first_day=0))
    latencies.sort()
    p50 = statistics.median(latencies)
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    print(f"{count} concurrent creates: p50 {p50:.2f} s, p99 {p99:.2f} s")
    assert len(set(ids)) == count
    rows = wait(
        lambda: (r := chaos.rows(ids)) and all(x.state in TERMINAL for x in r) and r,
        BURST_SECONDS,
        f"{count} burst jobs to be terminal",
    )
    print(f"{count} jobs terminal {time.monotonic() - started:.1f} s after the first create")
    states = statistics.multimode([r.state for r in rows])
    failed = [(r.id, r.state, r.error_message) for r in rows if r.state != "succeeded"]
    assert not failed, f"{len(failed)} did not succeed ({states}): {failed[:5]}"
    assert len({r.flow_run_id for r in rows}) == count, "one flow run per job"
    for job_id in ids:
        assert len(chaos.runs_of(job_id)) == 1, f"job {job_id} was launched more than once"
    _no_orphan_files(chaos)
    # Measured alone on 2 cores: p99 about 2-3 s at 200 (1.6-2.7 s at 100); before the
    # outbox creates waited on the launch (up to 130 s). Room for a loaded CI machine.
    assert p99 < 6.0, f"p99 create latency {p99:.2f} s"
