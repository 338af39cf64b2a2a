"""The documented contract over HTTP: errors in each surface's shape (never a 500, no job
row created), auth, cross-account 404s and HiEnergy member scoping."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.api_shim.http_checks import HE, VH, WH, expect_error, job_rows, no_job_row
from tests.factories import DECEMBER

WH_BODY = {"start_time": "2025-12-01T00:00:00Z", "end_time": "2025-12-01T23:59:59Z"}
SEED_REPORT_TYPES = (
    "Invalid report_type. Must be one of: overview, volume, usage, "
    "risk-summary, widget-performance, full, verification-v21, full-v21"
)


@pytest.mark.parametrize(
    ("body", "status", "message", "field"),
    [
        (
            {"report_type": "bogus", "format": "pdf", **DECEMBER},
            400,
            SEED_REPORT_TYPES,
            "report_type",
        ),
        (
            {"report_type": "overview", "format": "docx", **DECEMBER},
            400,
            "Invalid format",
            "format",
        ),
        (
            {"report_type": "overview", **DECEMBER, "from": "2025-01-01"},
            400,
            "Date range exceeds plan limit",
            "to",
        ),
        (
            {"report_type": "overview", **DECEMBER, "from": "2025-02-30"},
            400,
            "not a real date",
            "from",
        ),
        ({"report_type": "overview", **DECEMBER, "to": "2025-11-01"}, 400, "before", "to"),
        ({"report_type": "overview", **DECEMBER, "env": "prod"}, 400, "Invalid env", "env"),
        ({"report_type": "overview", **DECEMBER, "from": 20251201}, 400, "Invalid from", "from"),
        ({"report_type": "overview", **DECEMBER, "colour": "red"}, 400, "Unknown field", "colour"),
        ({"report_type": "overview", "env": "live"}, 400, "Missing required field", "from"),
    ],
)
def test_verifyhuman_bad_input(stack, body, status, message, field) -> None:
    with no_job_row():
        response = stack.client("acme").post(VH, json=body)
    expect_error(response, status, message, field=field)


def test_verifyhuman_plan_and_malformed_bodies(stack) -> None:
    before = job_rows()
    for account in ("umbrella", "hooli"):  # Starter and Free
        client = stack.client(account)
        for response in (
            client.post(VH, json={"report_type": "overview", **DECEMBER}),
            client.get(VH),
        ):
            expect_error(response, 403, exact="Export functionality requires Growth plan or higher")
    pro = stack.client("globex").post(
        VH, json={"report_type": "overview", **DECEMBER, "from": "2025-03-01"}
    )
    assert pro.status_code == 201, "Pro allows a range Growth does not"
    client = stack.client("acme")
    expect_error(
        client.post(VH, content=b"{not json", headers={"content-type": "application/json"}),
        400,
        exact="Request body must be valid JSON",
    )
    expect_error(
        client.post(VH, json=["overview"]), 400, exact="Request body must be a JSON object"
    )
    expect_error(client.get(f"{VH}/abc"), 400, "Invalid job_id", field="job_id")
    expect_error(client.get(f"{VH}/999999"), 404, exact="Export job not found")
    expect_error(client.get(VH, params={"page": 0}), 400, "Invalid page", field="page")
    assert job_rows() == before + 1


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        (VH, {}),
        (VH, {"authorization": "Bearer rex_wrong"}),
        (VH, {"authorization": "Bearer"}),
        (VH, {"authorization": "Bearer {key}x"}),
        (HE, {}),
        (HE, {"x-api-key": "rex_nope"}),
        (HE, {"authorization": "Bearer {key}"}),  # HiEnergy takes X-Api-Key only
        (WH, {}),
        (WH, {"authorization": "Basic abc"}),
        (WH, {"x-api-key": "{key}"}),  # webhooks take a Bearer token only
    ],
)
def test_missing_or_wrong_keys_are_401_in_the_surface_shape(stack, path, headers) -> None:
    key = stack.keys["acme"]["admin"]
    headers = {name: value.format(key=key) for name, value in headers.items()}
    response = httpx.get(stack.base_url + path, headers=headers)
    expect_error(response, 401, exact="Invalid or missing API key")


def test_hienergy_and_webhooks_bad_input(stack) -> None:
    he = stack.client("acme", "admin", "he")
    wh = stack.client("acme", "admin", "wh")
    with no_job_row():
        for response, field in (
            (he.post(HE, json={"report_type": "overview"}), "report_type"),
            (
                he.post(HE, json={"report_type": "deals_excel", "search_params": "x"}),
                "search_params",
            ),
            (
                he.post(HE, json={"report_type": "deals_excel", "search_params": {"zip": 1}}),
                "search_params.zip",
            ),
            (he.post(HE, json={"report_type": "deals_excel", "extra": 1}), "extra"),
            (he.get(HE, params={"limit": 0}), "limit"),
            (he.get(HE, params={"limit": 101}), "limit"),
            (wh.post(WH, json={**WH_BODY, "end_time": "2025-11-01T00:00:00Z"}), "end_time"),
            (wh.post(WH, json={**WH_BODY, "endpoint_id": "ep_123"}), "endpoint_id"),
            (wh.post(WH, json={**WH_BODY, "status": "lost"}), "status"),
            (wh.post(WH, json={**WH_BODY, "extra": True}), "extra"),
            (wh.post(WH, json={"start_time": "2025-12-01"}), "end_time"),
            (wh.get(f"{WH}/not-a-uuid"), "id"),
            (wh.get(WH, params={"limit": "x"}), "limit"),
        ):
            expect_error(response, 400, field=field)
        expect_error(he.get(f"{HE}/-1"), 404, exact="Export job not found")
        expect_error(wh.get(f"{WH}/{uuid.uuid4()}"), 404, exact="Export job not found")


def test_other_accounts_exports_are_404_everywhere(stack) -> None:
    acme_vh, acme_he, acme_wh = (stack.client("acme", "admin", s) for s in ("vh", "he", "wh"))
    vh_id = acme_vh.post(
        VH,
        json={
            "report_type": "volume",
            "format": "csv",
            "env": "test",
            "from": "2025-10-01",
            "to": "2025-10-31",
        },
    ).json()["id"]
    he_id = acme_he.post(
        HE, json={"report_type": "advertisers_csv", "search_params": {"q": "cross"}}
    ).json()["export"]["id"]
    wh_id = acme_wh.post(WH, json={**WH_BODY, "direction": "outbound"}).json()["data"]["id"]
    globex = {s: stack.client("globex", "admin", s) for s in ("vh", "he", "wh")}
    for response in (
        globex["vh"].get(f"{VH}/{vh_id}"),
        globex["vh"].get(f"{VH}/{vh_id}/download"),
        globex["vh"].delete(f"{VH}/{vh_id}"),
        globex["he"].get(f"{HE}/{he_id}"),
        globex["wh"].get(f"{WH}/{wh_id}"),
        globex["wh"].get(f"{WH}/{wh_id}/download"),
        # One account, another surface: ids do not cross surfaces either.
        acme_he.get(f"{HE}/{vh_id}"),
        acme_vh.get(f"{VH}/{he_id}"),
    ):
        expect_error(response, 404, exact="Export job not found")
    # HiEnergy scoping inside one account: members see their own reports only.
    member = stack.client("acme", "member", "he")
    expect_error(member.get(f"{HE}/{he_id}"), 404, exact="Export job not found")
    mine = member.post(
        HE, json={"report_type": "advertisers_csv", "search_params": {"q": "member"}}
    ).json()["export"]["id"]
    assert [e["id"] for e in member.get(HE).json()["exports"]] == [mine]
    assert mine in [e["id"] for e in acme_he.get(HE).json()["exports"]]
