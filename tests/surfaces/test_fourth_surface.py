"""A fourth surface is one module (tests/surfaces/fourth.py): served, gated, exported.

The team stack loads it by setting; the API serves it through the declared-surface router
with its own key header, id style, status words, error body and plan gate, and the flows
run its jobs like any other.
"""

from __future__ import annotations

import io
import time
import uuid
from datetime import datetime

import httpx
import openpyxl
import pytest

from examples.acme_reports.tables import sample_rows
from tests.private_stack import TEAM_FIRST_DAY, TEAM_ROWS, PrivateStack

pytestmark = pytest.mark.slow

BASE = "/ledger/v1/exports"
APRIL = {"since": "2025-04-01", "until": "2025-04-30"}


def _ledger(stack: PrivateStack, account: str, role: str = "admin") -> httpx.Client:
    key = stack.keys[account][role]
    return httpx.Client(base_url=stack.api_url, headers={"x-api-key": key}, timeout=60)


def test_the_fourth_surface_is_documented_beside_the_others(team_stack) -> None:
    document = httpx.get(f"{team_stack.api_url}/openapi.json", timeout=30).json()
    assert {BASE, f"{BASE}/{{export_id}}", f"{BASE}/{{export_id}}/download"} <= set(
        document["paths"]
    )
    assert "/api/v1/exports" in document["paths"], "the seed surfaces are still served"


def test_its_errors_come_in_its_own_shape(team_stack) -> None:
    with _ledger(team_stack, "acme") as growth:  # acme is on Growth: gated
        refused = growth.post(BASE, json={"report_type": "ledger-invoices", **APRIL})
    assert refused.status_code == 403
    assert refused.json() == {
        "type": "urn:ledger:forbidden",
        "title": "Forbidden",
        "status": 403,
        "detail": "Ledger exports need the Pro plan",
    }
    with _ledger(team_stack, "globex") as pro:
        too_long = pro.post(
            BASE,
            json={"report_type": "ledger-invoices", "since": "2025-01-01", "until": "2025-06-30"},
        )
        bad = pro.post(BASE, json={"report_type": "ledger-invoices", **APRIL, "currency": "GBP"})
        missing = pro.get(f"{BASE}/{uuid.uuid4()}")
        unauthenticated = httpx.get(f"{team_stack.api_url}{BASE}", timeout=30)
    assert too_long.status_code == 400 and too_long.json()["field"] == "until"
    assert bad.status_code == 400 and bad.json()["field"] == "currency", bad.text
    assert missing.status_code == 404 and missing.json()["status"] == 404
    assert unauthenticated.status_code == 401
    assert set(unauthenticated.json()) >= {"type", "title", "status", "detail"}


def test_an_export_on_the_fourth_surface_runs_and_downloads(team_stack) -> None:
    body = {"report_type": "ledger-invoices", "format": "xlsx", **APRIL, "currency": "USD"}
    with _ledger(team_stack, "globex") as pro:
        created = pro.post(BASE, json=body)
        assert created.status_code == 201, created.text
        export = created.json()["export"]
        assert uuid.UUID(export["id"]) and export["status"] in ("waiting", "working")
        deadline = time.monotonic() + 180
        while export["status"] in ("waiting", "working") and time.monotonic() < deadline:
            time.sleep(0.5)
            export = pro.get(f"{BASE}/{export['id']}").json()["export"]
        assert export["status"] == "ready", export
        listed = pro.get(BASE).json()
        file = pro.get(f"{BASE}/{export['id']}/download")
        again = pro.post(BASE, json=body)
    with _ledger(team_stack, "acme") as other:
        assert other.get(f"{BASE}/{export['id']}").status_code in (403, 404)
    assert export["id"] in {e["id"] for e in listed["exports"]}
    assert again.status_code in (200, 201)
    assert file.status_code == 200
    rows = list(openpyxl.load_workbook(io.BytesIO(file.content), read_only=True).active.values)
    header_at = next(i for i, row in enumerate(rows) if row and row[0] == "Invoice")
    data = [r for r in rows[header_at + 1 :] if r and r[0]]
    expected = [
        r
        for r in sample_rows(2, TEAM_ROWS[2], TEAM_FIRST_DAY)
        if r["currency"] == "USD" and datetime(2025, 4, 1) <= r["issued_at"] < datetime(2025, 5, 1)
    ]
    assert [r[0] for r in data] == [r["invoice_number"] for r in expected] != []
    assert export["row_count"] == len(expected)
