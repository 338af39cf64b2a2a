"""A team's own reports (examples/acme_reports) through the API, on SQLite and PostgreSQL.

The stack is started with ``REPORT_EXPORTS_CATALOG_MODULES=examples.acme_reports`` and a
source database that has Acme's table and none of the demo's; the reports are exported
through the HiEnergy API and their files read back with independent readers.
"""

from __future__ import annotations

import csv
import io
import time
from datetime import datetime

import httpx
import openpyxl
import pytest

from examples.acme_reports.tables import sample_rows
from tests.private_stack import TEAM_FIRST_DAY, TEAM_ROWS, PrivateStack

pytestmark = pytest.mark.slow

FIRST_DAY, ROWS = TEAM_FIRST_DAY, TEAM_ROWS  # account 2's invoices must never show up
MARCH = {"from": "2025-03-01", "to": "2025-03-31"}


@pytest.fixture
def acme(team_stack: PrivateStack) -> PrivateStack:
    return team_stack


def _client(stack: PrivateStack, account: str = "acme") -> httpx.Client:
    key = stack.keys[account]["admin"]
    return httpx.Client(base_url=stack.api_url, headers={"x-api-key": key}, timeout=60)


def _export(stack: PrivateStack, body: dict) -> tuple[dict, bytes]:
    with _client(stack) as api:
        created = api.post("/api/v1/exports", json=body)
        assert created.status_code == 201, created.text
        export_id = created.json()["export"]["id"]
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            export = api.get(f"/api/v1/exports/{export_id}").json()["export"]
            if export["status"] in ("completed", "failed"):
                break
            time.sleep(0.5)
        assert export["status"] == "completed", export
        downloaded = httpx.get(export["download_url"], timeout=60)
        assert downloaded.status_code == 200
        return export, downloaded.content


def _expected(account_id: int, status: str) -> list[dict]:
    rows = [
        r for r in sample_rows(account_id, ROWS[account_id], FIRST_DAY) if r["status"] == status
    ]
    return [r for r in rows if r["issued_at"] < datetime(2025, 4, 1)]


def test_the_catalog_offers_the_teams_reports_with_their_own_filters(acme) -> None:
    document = httpx.get(f"{acme.api_url}/openapi.json", timeout=30).json()
    create = document["paths"]["/api/v1/exports"]["post"]["requestBody"]["content"]
    schema = create["application/json"]["schema"]
    ref = schema["$ref"].rsplit("/", 1)[1]
    body = document["components"]["schemas"][ref]["properties"]
    assert {"acme_invoices_csv", "acme_invoices_excel"} <= set(body["report_type"]["enum"])
    search = body["search_params"]
    (search,) = [s for s in search.get("anyOf", [search]) if s.get("type") == "object"]
    assert {"min_amount", "customer", "status"} <= set(search["properties"])
    with _client(acme) as api:
        refused = api.post(
            "/api/v1/exports",
            json={"report_type": "acme_invoices_csv", "search_params": {"colour": "red"}},
        )
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["field"].endswith("colour")


def test_csv_of_the_teams_table_holds_exactly_the_filtered_rows(acme) -> None:
    body = {
        "report_type": "acme_invoices_csv",
        "search_params": {**MARCH, "status": "paid"},
        "index_params": {"sort": "amount", "order": "desc"},
    }
    export, content = _export(acme, body)
    assert export["filename"].endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    expected = _expected(1, "paid")
    assert len(rows) == len(expected) > 100
    assert {r["Invoice"] for r in rows} == {r["invoice_number"] for r in expected}
    amounts = [float(r["Amount"]) for r in rows]
    assert amounts == sorted(amounts, reverse=True), "index_params: amount, desc"
    assert {r["Status"] for r in rows} == {"paid"}
    assert all(r["Invoice"].startswith("INV-01-") for r in rows), "another account's rows"
    assert "Stark <Industries>" in {r["Customer"] for r in rows}


def test_xlsx_of_the_teams_table_has_typed_cells(acme) -> None:
    body = {
        "report_type": "acme_invoices_excel",
        "search_params": {**MARCH, "status": "open"},
    }
    export, content = _export(acme, body)
    assert export["filename"].endswith(".xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(content), read_only=True).worksheets[0]
    values = list(sheet.iter_rows(values_only=True))
    header_at = next(i for i, row in enumerate(values) if row and row[0] == "Invoice")
    header, data = values[header_at], [r for r in values[header_at + 1 :] if r and r[0]]
    expected = _expected(1, "open")
    assert len(data) == len(expected)
    amount, issued, paid = (
        header.index("Amount"),
        header.index("Issued at (UTC)"),
        header.index("Paid"),
    )
    first = data[0]
    assert isinstance(first[amount], float) and isinstance(first[issued], datetime)
    assert first[issued] == expected[0]["issued_at"]
    assert [r[0] for r in data] == [r["invoice_number"] for r in expected]
    assert {r[paid] for r in data} == {False}
