"""Small exports through the API on a warm embedded stack: latency, and a burst at once.

The stack is the one ``report-exports up`` starts (served export-report deployment, each
flow run in its own process, forked from the fork server that imported the flows; the
API), on its own ports and var/ directory. Latency is POST → the status reads
``succeeded`` → the file is downloaded, split by the flow run's Prefect states: API and
launch (POST → Scheduled), waiting for the runner's poll (→ Pending), process start
(→ Running), the flow run (→ Completed, of which plan→publish is our work) and the status
catching up (→ seen by the client).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from benchmarks.cases import WHOLE_PERIOD, daily_counts, day_near
from benchmarks.measure import BenchError, free_port

FINAL = {"succeeded", "failed", "cancelled"}
SMALL_ROWS = 1_000
LOCKED = "database is locked"
PHASES = (
    "post_s",
    "launch_s",
    "poll_wait_s",
    "process_start_s",
    "flow_run_s",
    "flow_work_s",
    "status_lag_s",
    "download_s",
)


def start_bench_stack(source_url: str) -> tuple[Any, dict[str, dict[str, str]], Any]:
    """The embedded stack over ``source_url`` on free ports: (stack, demo keys, settings)."""
    from demo_data.accounts import seed_accounts
    from deployments.stack import start_stack
    from jobstore.store import init_store, job_engine
    from report_exports.settings import get_settings

    os.environ["REPORT_EXPORTS_SOURCE_URL"] = source_url
    os.environ["REPORT_EXPORTS_API_PORT"] = str(free_port())
    get_settings.cache_clear()
    settings = get_settings()
    init_store(job_engine())
    keys = seed_accounts(job_engine(), settings.var_dir / "demo-api-keys.json")
    return start_stack(settings), keys, settings


def run_api_cases(source_url: str, args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Start the stack, warm it up, then the sequential and the concurrent measurements."""
    day, rows = day_near(daily_counts(source_url, "full", WHOLE_PERIOD, 1), SMALL_ROWS)
    body = {"report_type": "full", "format": "csv", "env": "live", "from": day, "to": day}
    stack, keys, settings = start_bench_stack(source_url)
    logs = settings.var_dir / "log"
    outcomes: dict[str, dict[str, Any]] = {}
    try:
        headers = {"authorization": f"Bearer {keys['acme']['admin']}"}
        with httpx.Client(base_url=stack.api_url, headers=headers, timeout=60) as client:
            for _ in range(2):  # warm: the served process, the API's imports, the caches
                export_once(client, body, stack.prefect_url)
            if "api" in args.groups:
                runs = [export_once(client, body, stack.prefect_url) for _ in range(args.api_jobs)]
                outcomes["api-latency"] = summarise_latency(runs) | {"rows": rows, "day": day}
            if "concurrent" in args.groups:
                marks = {p: p.stat().st_size for p in logs.glob("*.log")}
                burst = export_burst(stack.api_url, headers, body, args.concurrent)
                burst["locked"] = _count_new(logs, marks, LOCKED)
                outcomes["api-concurrent"] = burst | {"rows": rows, "day": day}
    finally:
        stack.stop()
    return outcomes


def export_once(client: httpx.Client, body: dict[str, Any], prefect_url: str) -> dict[str, Any]:
    """One export as a user waits for it: POST, poll every 50 ms until final, download.

    ``total_s`` ends when the file is in hand; the phases come from Prefect's states.
    """
    posted = time.time()
    job = client.post("/api/reports/exports", json=body)
    job.raise_for_status()
    created = time.time()
    path = f"/api/reports/exports/{job.json()['id']}"
    status, seen = _poll(client, path, deadline=time.monotonic() + 120)
    out: dict[str, Any] = {"status": status, "post_s": created - posted}
    if status == "succeeded":
        size = _download(client, f"{path}/download")
        done = time.time()
        out |= {"total_s": done - posted, "download_s": done - seen, "bytes": size}
        out |= phases(prefect_url, int(job.json()["id"]), posted, seen)
    return out


def _download(client: httpx.Client, path: str) -> int:
    """Fetch a finished export's file (following the signed redirect); its size in bytes."""
    size = 0
    with client.stream("GET", path, follow_redirects=True) as answer:
        answer.raise_for_status()
        for block in answer.iter_bytes():
            size += len(block)
    return size


def _poll(client: httpx.Client, path: str, deadline: float) -> tuple[str, float]:
    while True:
        status = str(client.get(path).json().get("status"))
        if status in FINAL or time.monotonic() > deadline:
            return status, time.time()
        time.sleep(0.05)


def phases(prefect_url: str, job_id: int, posted: float, seen: float) -> dict[str, float]:
    """Seconds of each phase, from the flow run's state timestamps."""
    from benchmarks.contenders import flow_timings
    from jobstore.store import get_job, job_engine

    run_id = get_job(job_engine(), job_id).flow_run_id
    # The job reads succeeded when record ends, a moment before the run is Completed.
    deadline = time.monotonic() + 30
    while "COMPLETED" not in (at := _state_times(prefect_url, str(run_id))):
        if time.monotonic() > deadline:
            raise BenchError(f"flow run {run_id} of job {job_id} never reached Completed: {at}")
        time.sleep(0.1)
    work = flow_timings(prefect_url, str(run_id))["flow_work_s"]
    return {
        "launch_s": at["SCHEDULED"] - posted,
        "poll_wait_s": at["PENDING"] - at["SCHEDULED"],
        "process_start_s": at["RUNNING"] - at["PENDING"],
        "flow_run_s": at["COMPLETED"] - at["RUNNING"],
        "flow_work_s": work,
        "status_lag_s": seen - at["COMPLETED"],
    }


def _state_times(prefect_url: str, run_id: str) -> dict[str, float]:
    """When the flow run first entered each state type (epoch seconds)."""
    states = httpx.get(
        f"{prefect_url}/flow_run_states/", params={"flow_run_id": run_id}, timeout=10
    ).json()
    at: dict[str, float] = {}
    for state in states:
        at.setdefault(state["type"], datetime.fromisoformat(state["timestamp"]).timestamp())
    return at


def summarise_latency(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """p50 / p95 of the total and the median of each phase."""
    ok = [r for r in runs if r["status"] == "succeeded"]
    totals = sorted(r["total_s"] for r in ok)
    summary: dict[str, Any] = {"jobs": len(runs), "succeeded": len(ok)}
    posts = sorted(r["post_s"] for r in runs)
    summary["post_p50_s"], summary["post_max_s"] = statistics.median(posts), posts[-1]
    if totals:
        summary["p50_s"] = statistics.median(totals)
        summary["p95_s"] = _percentile(totals, 0.95)
        summary["p99_s"] = _percentile(totals, 0.99)
        summary["max_s"] = totals[-1]
        for phase in PHASES:
            summary[phase] = statistics.median(r[phase] for r in ok)
    return summary


def _percentile(ordered: list[float], fraction: float) -> float:
    """The nearest-rank percentile of sorted values."""
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def export_burst(
    api_url: str, headers: dict[str, str], body: dict[str, Any], count: int
) -> dict[str, Any]:
    """``count`` POSTs at once, then every job polled until final (or 10 minutes)."""
    started = time.time()

    def one(_: int) -> tuple[str, float]:
        with httpx.Client(base_url=api_url, headers=headers, timeout=120) as client:
            created = client.post("/api/reports/exports", json=body)
            if created.status_code != 201:
                return f"http {created.status_code}", time.time()
            path = f"/api/reports/exports/{created.json()['id']}"
            return _poll(client, path, deadline=time.monotonic() + 600)

    with ThreadPoolExecutor(max_workers=count) as pool:
        outcomes = list(pool.map(one, range(count)))
    statuses = [s for s, _ in outcomes]
    last = max(t for _, t in outcomes)
    return {
        "jobs": count,
        "succeeded": statuses.count("succeeded"),
        "failed": sum(s != "succeeded" and s in FINAL for s in statuses),
        "lost": sum(s not in FINAL for s in statuses),
        "other": sorted({s for s in statuses if s != "succeeded"}),
        "elapsed_s": last - started,
        "per_minute": 60 * count / (last - started),
    }


def _count_new(folder: Path, marks: dict[Path, int], needle: str) -> int:
    """Occurrences of ``needle`` written to the folder's logs since ``marks`` were taken."""
    found = 0
    for log in folder.glob("*.log"):
        with log.open("rb") as fh:
            fh.seek(marks.get(log, 0))
            found += fh.read().decode(errors="replace").count(needle)
    return found
