"""The seeds' example workflows over HTTP on a running stack, plus cancel, dedupe under
concurrency, expiry and a crashed run that no hook reported.

Every downloaded file is opened and checked against the source.
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import openpyxl
from pypdf import PdfReader
from sqlalchemy import func, select, update

from jobstore.models import ExportJob
from jobstore.store import job_engine
from tests.api_shim.http_checks import launched_run_id, runner_paused
from tests.factories import DEC_END, DEC_START, DECEMBER, query

FINAL = {"succeeded", "failed", "cancelled", "completed", "expired"}


def poll(client: httpx.Client, path: str, pick: Any, timeout: float = 240) -> dict[str, Any]:
    """GET ``path`` until the status ``pick`` extracts is final."""
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(path).json()
        if pick(body) in FINAL or time.monotonic() > deadline:
            return body
        time.sleep(0.5)


def test_verifyhuman_example_workflow(stack, demo_db_path) -> None:
    vh = stack.client("acme", "admin", "vh")
    created = vh.post(
        "/api/reports/exports", json={"report_type": "overview", "format": "csv", **DECEMBER}
    )
    assert created.status_code == 201
    job = created.json()
    assert job["status"] == "queued" and job["params"] == DECEMBER
    assert set(job) == {"id", "report_type", "format", "status", "params", "created_at"}

    done = poll(vh, f"/api/reports/exports/{job['id']}", lambda b: b["status"])
    assert done["status"] == "succeeded"
    assert done["download_url"] == f"/api/reports/exports/{job['id']}/download"
    file = vh.get(done["download_url"], headers={"Accept-Encoding": "identity"})  # not gzipped
    assert file.status_code == 200
    assert file.headers["content-type"].startswith("text/csv")
    assert 'filename="overview-live_20251201-20251231_job' in file.headers["content-disposition"]
    assert int(file.headers["content-length"]) == done["file_size_bytes"] == len(file.content)
    rows = list(csv.DictReader(io.StringIO(file.content.decode())))
    ((total,),) = query(
        demo_db_path,
        """SELECT count(*) FROM verification_events WHERE
        account_id = 1 AND env = 'live' AND created_at >= ? AND created_at < ?""",
        DEC_START,
        DEC_END,
    )
    assert int(rows[0]["Verifications"]) == total

    listed = vh.get("/api/reports/exports", params={"per_page": 5}).json()
    assert listed["exports"][0]["id"] == job["id"] and listed["page"] == 1
    assert listed["pages"] == -(-listed["total"] // 5)
    cannot = vh.delete(f"/api/reports/exports/{job['id']}")
    assert cannot.status_code == 400
    assert cannot.json() == {"error": "Cannot cancel export with status: succeeded"}


def test_verifyhuman_pdf_download_opens(stack) -> None:
    vh = stack.client("globex", "admin", "vh")
    body = {"report_type": "full-v21", "format": "pdf", **DECEMBER}
    job = vh.post("/api/reports/exports", json=body).json()
    done = poll(vh, f"/api/reports/exports/{job['id']}", lambda b: b["status"])
    assert done["status"] == "succeeded", done
    pdf = PdfReader(io.BytesIO(vh.get(done["download_url"]).content))
    text = "\n".join(p.extract_text() for p in pdf.pages)
    assert "globex" in text and "Credits" in text and "Page 1 of" in text


def test_hienergy_example_workflow_and_dedupe(stack) -> None:
    he = stack.client("initech", "admin", "he")
    body = {
        "report_type": "deals_excel",
        "search_params": {"exclusive": True},
        "index_params": {"sort": "discount_pct", "order": "desc"},
    }
    created = he.post("/api/v1/exports", json=body)
    assert created.status_code == 201 and created.json()["deduped"] is False
    export_id = created.json()["export"]["id"]
    done = poll(he, f"/api/v1/exports/{export_id}", lambda b: b["export"]["status"])["export"]
    assert done["status"] == "completed" and done["status_display"] == "Completed"
    file = httpx.get(done["download_url"], timeout=30)  # presigned: no key needed
    assert file.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(file.content), read_only=True).worksheets[0]
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert rows and all(r[9] is True for r in rows), "only exclusive deals"
    discounts = [r[6] for r in rows]
    assert discounts == sorted(discounts, reverse=True)

    again = he.post("/api/v1/exports", json=body)
    assert again.status_code == 200
    assert again.json()["deduped"] is True and again.json()["export"]["id"] == export_id


def _count_jobs() -> int:
    with job_engine().connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ExportJob)).scalar_one())


def test_twenty_concurrent_identical_creates_make_one_job(stack) -> None:
    body = {
        "report_type": "advertisers_csv",
        "search_params": {"q": f"concurrency-{uuid.uuid4().hex[:6]}"},
    }
    before = _count_jobs()

    def create(_: int) -> httpx.Response:
        with stack.client("globex", "admin", "he") as he:
            return he.post("/api/v1/exports", json=body)

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(create, range(20)))
    assert _count_jobs() == before + 1
    codes = sorted(a.status_code for a in answers)
    assert codes.count(201) == 1 and set(codes) <= {200, 201, 409}
    assert len({a.json()["export"]["id"] for a in answers}) == 1
    assert all(a.json()["deduped"] is (a.status_code == 200) for a in answers)


def test_cancel_a_queued_job(stack) -> None:
    vh = stack.client("initech", "admin", "vh")
    with runner_paused(stack):  # nothing picks the run up while it is paused
        job = vh.post(
            "/api/reports/exports", json={"report_type": "volume", "format": "csv", **DECEMBER}
        ).json()
        assert vh.get(f"/api/reports/exports/{job['id']}").json()["status"] == "queued"
        cancelled = vh.delete(f"/api/reports/exports/{job['id']}")
        assert cancelled.status_code == 200
        assert cancelled.json() == {"message": "Export job cancelled", "id": job["id"]}
    time.sleep(4)  # the runner is back: the cancelled run must not produce anything
    after = vh.get(f"/api/reports/exports/{job['id']}").json()
    assert after["status"] == "cancelled" and "download_url" not in after
    assert vh.get(f"/api/reports/exports/{job['id']}/download").status_code == 404
    assert vh.delete(f"/api/reports/exports/{job['id']}").status_code == 400


def test_a_crashed_run_reads_failed_even_without_a_hook(stack) -> None:
    from prefect.client.orchestration import get_client
    from prefect.states import Crashed

    wh = stack.client("acme", "admin", "wh")
    body = {
        "start_time": "2025-12-02T00:00:00Z",
        "end_time": "2025-12-02T23:59:59Z",
        "direction": "inbound",
    }
    with runner_paused(stack):
        created = wh.post("/v1/exports", json=body).json()["data"]
        run_id = launched_run_id(created["id"])

        async def crash() -> None:
            async with get_client() as client:
                await client.set_flow_run_state(
                    uuid.UUID(run_id), Crashed(message="worker lost"), force=True
                )

        asyncio.run(crash())
        seen = wh.get(f"/v1/exports/{created['id']}").json()["data"]
    assert seen["status"] == "failed" and "crashed" in seen["error"]
    assert wh.get(f"/v1/exports/{created['id']}/download").status_code == 404


def test_webhooks_example_workflow_and_expiry(stack, demo_db_path) -> None:
    from flows.cleanup_expired import cleanup_expired

    wh = stack.client("acme", "admin", "wh")
    body = {
        "start_time": "2025-12-01T00:00:00Z",
        "end_time": "2025-12-06T23:59:59Z",
        "status": "failed_permanent",
    }
    created = wh.post("/v1/exports", json=body)
    assert created.status_code in (200, 201)
    export = created.json()["data"]
    assert uuid.UUID(export["id"]).version == 7 and export["project_id"] == "proj_acme01"
    assert export["filter_status"] == "failed_permanent"
    assert created.json()["meta"]["request_id"].startswith("req_")
    done = poll(wh, f"/v1/exports/{export['id']}", lambda b: b["data"]["status"])["data"]
    assert done["status"] == "completed"
    expected = query(
        demo_db_path,
        """SELECT id FROM webhook_messages WHERE account_id = 1
        AND status = 'failed_permanent' AND created_at >= '2025-12-01 00:00:00'
        AND created_at <= '2025-12-06 23:59:59' ORDER BY created_at, seq""",
    )
    assert done["row_count"] == len(expected)
    file = wh.get(f"/v1/exports/{export['id']}/download", headers={"Accept-Encoding": "identity"})
    assert (
        file.status_code == 200 and int(file.headers["content-length"]) == done["file_size_bytes"]
    )
    rows = list(csv.reader(io.StringIO(file.content.decode())))[1:]
    assert [r[0] for r in rows] == [e[0] for e in expected]
    expires = datetime.fromisoformat(done["expires_at"].replace("Z", "+00:00"))
    assert timedelta(hours=23) < expires - datetime.now(UTC) <= timedelta(hours=24)

    # Retention: pretend the day is over, run the scheduled cleanup flow.
    with job_engine().begin() as conn:
        conn.execute(
            update(ExportJob)
            .where(ExportJob.public_id == export["id"])
            .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )
    result = cleanup_expired()
    assert result["expired"]
    assert wh.get(f"/v1/exports/{export['id']}").json()["data"]["status"] == "expired"
    gone = wh.get(f"/v1/exports/{export['id']}/download")
    assert gone.status_code == 404
    assert gone.json()["error"] == {
        "code": "NOT_FOUND",
        "message": "Export file not found or expired",
    }


def test_verifyhuman_download_after_retention(stack) -> None:
    from flows.cleanup_expired import cleanup_expired

    vh = stack.client("initech", "member", "vh")
    job = vh.post(
        "/api/reports/exports",
        json={
            "report_type": "usage",
            "format": "csv",
            "env": "test",
            "from": "2025-11-01",
            "to": "2025-11-30",
        },
    ).json()
    assert (
        poll(vh, f"/api/reports/exports/{job['id']}", lambda b: b["status"])["status"]
        == "succeeded"
    )
    with job_engine().begin() as conn:
        conn.execute(
            update(ExportJob)
            .where(ExportJob.id == job["id"])
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    cleanup_expired()
    after = vh.get(f"/api/reports/exports/{job['id']}").json()
    assert after["status"] == "succeeded" and "download_url" not in after
    gone = vh.get(f"/api/reports/exports/{job['id']}/download")
    assert gone.status_code == 404 and gone.json() == {"error": "Export file not found or expired"}
