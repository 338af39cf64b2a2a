"""The demo: start the stack, export through each of the three APIs, download, stop."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from deployments.stack import Stack

FINAL = {"succeeded", "completed", "failed", "cancelled", "expired"}


def _poll(
    client: httpx.Client, path: str, status_of: Callable[[Any], str], timeout: float = 180
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(path)
        response.raise_for_status()
        body = response.json()
        if status_of(body) in FINAL or time.monotonic() > deadline:
            return body
        time.sleep(0.5)


def _save(response: httpx.Response, out_dir: Path) -> Path:
    response.raise_for_status()
    disposition = response.headers["content-disposition"]
    name = disposition.split('filename="', 1)[1].split('"', 1)[0]
    path = out_dir / name
    path.write_bytes(response.content)
    return path


def run_demo(
    stack: Stack, keys: dict[str, dict[str, str]], out_dir: Path, say: Callable[[str], None]
) -> list[Path]:
    """One export per surface over HTTP; returns the downloaded files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    key = keys["acme"]["admin"]
    files: list[Path] = []
    bearer = {"authorization": f"Bearer {key}"}
    with httpx.Client(base_url=stack.api_url, timeout=60, headers=bearer) as vh:
        job = (
            vh.post(
                "/api/reports/exports",
                json={
                    "report_type": "verification-v21",
                    "format": "pdf",
                    "env": "live",
                    "from": "2025-12-01",
                    "to": "2025-12-31",
                },
            )
            .raise_for_status()
            .json()
        )
        say(f"VerifyHuman: POST /api/reports/exports → job {job['id']} {job['status']}")
        done = _poll(vh, f"/api/reports/exports/{job['id']}", lambda b: b["status"])
        say(f"VerifyHuman: job {job['id']} {done['status']}")
        files.append(_save(vh.get(done["download_url"]), out_dir))
    with httpx.Client(base_url=stack.api_url, timeout=60, headers={"x-api-key": key}) as he:
        created = he.post(
            "/api/v1/exports",
            json={
                "report_type": "hot_advertisers_excel",
                "search_params": {"from": "2025-11-01", "to": "2025-12-31", "limit": 25},
            },
        )
        if created.status_code not in (200, 201, 409):
            created.raise_for_status()
        export = created.json()["export"]
        say(f"HiEnergy: POST /api/v1/exports → report {export['id']} {export['status']}")
        done = _poll(he, f"/api/v1/exports/{export['id']}", lambda b: b["export"]["status"])
        say(f"HiEnergy: report {export['id']} {done['export']['status']}")
        files.append(_save(httpx.get(done["export"]["download_url"], timeout=60), out_dir))
    with httpx.Client(base_url=stack.api_url, timeout=60, headers=bearer) as wh:
        data = (
            wh.post(
                "/v1/exports",
                json={
                    "start_time": "2025-12-01T00:00:00Z",
                    "end_time": "2025-12-06T23:59:59Z",
                    "status": "failed_permanent",
                },
            )
            .raise_for_status()
            .json()["data"]
        )
        say(f"Webhooks: POST /v1/exports → export {data['id']} {data['status']}")
        done = _poll(wh, f"/v1/exports/{data['id']}", lambda b: b["data"]["status"])
        say(
            f"Webhooks: export {data['id']} {done['data']['status']}, "
            f"{done['data']['row_count']} rows"
        )
        files.append(_save(wh.get(f"/v1/exports/{data['id']}/download"), out_dir))
    return files
