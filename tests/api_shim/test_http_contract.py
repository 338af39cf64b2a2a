"""The documented contract over HTTP: errors in each surface's shape (never a 500, no job
row created), auth, cross-account 404s, HiEnergy responses against the seed's schema,
and the OpenAPI document."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import jsonschema
import pytest
from sqlalchemy import func, select

from jobstore.models import ExportJob
from jobstore.store import job_engine
from tests.factories import DECEMBER

VH, HE, WH = "/api/reports/exports", "/api/v1/exports", "/v1/exports"
WH_BODY = {"start_time": "2025-12-01T00:00:00Z", "end_time": "2025-12-01T23:59:59Z"}
SEED_REPORT_TYPES = (
    "Invalid report_type. Must be one of: overview, volume, usage, "
    "risk-summary, widget-performance, full, verification-v21, full-v21"
)


def jobs() -> int:
    with job_engine().connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ExportJob)).scalar_one())


def vh_error(response: httpx.Response, status: int, message: str, field: str | None = None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) <= {"error", "field"} and message in body["error"], body
    assert body.get("field") == field


def he_error(response: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) <= {"code", "message", "field"} and error["code"] and error["message"]
    if field:
        assert error.get("field") == field, error
    return error


def wh_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "meta"} and body["meta"]["request_id"].startswith("req_")
    assert body["error"]["code"] == code and body["error"]["message"]
    return body["error"]


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
    before = jobs()
    vh_error(stack.client("acme").post(VH, json=body), status, message, field)
    assert jobs() == before, "no job row for a refused request"


def test_verifyhuman_plan_and_malformed_bodies(stack) -> None:
    before = jobs()
    for account in ("umbrella", "hooli"):  # Starter and Free
        client = stack.client(account)
        vh_error(
            client.post(VH, json={"report_type": "overview", **DECEMBER}),
            403,
            "Export functionality requires Growth plan or higher",
        )
        vh_error(client.get(VH), 403, "Export functionality requires Growth plan or higher")
    pro = stack.client("globex").post(
        VH, json={"report_type": "overview", **DECEMBER, "from": "2025-03-01"}
    )
    assert pro.status_code == 201, "Pro allows a range Growth does not"
    client = stack.client("acme")
    vh_error(
        client.post(VH, content=b"{not json", headers={"content-type": "application/json"}),
        400,
        "valid JSON",
    )
    vh_error(client.post(VH, json=["overview"]), 400, "")
    vh_error(
        client.post(
            VH,
            content=b'{"a": "' + b"x" * 70_000 + b'"}',
            headers={"content-type": "application/json"},
        ),
        413,
        "over",
    )
    vh_error(client.get(f"{VH}/abc"), 400, "Invalid job_id", "job_id")
    vh_error(client.get(f"{VH}/999999"), 404, "Export job not found")
    vh_error(client.get(VH, params={"page": 0}), 400, "Invalid page", "page")
    assert jobs() == before + 1


@pytest.mark.parametrize(
    ("path", "method", "headers", "check"),
    [
        (VH, "GET", {}, "vh"),
        (VH, "GET", {"authorization": "Bearer rex_wrong"}, "vh"),
        (VH, "GET", {"authorization": "Bearer"}, "vh"),
        (HE, "GET", {}, "he"),
        (HE, "GET", {"x-api-key": "rex_nope"}, "he"),
        (WH, "GET", {}, "wh"),
        (WH, "GET", {"authorization": "Basic abc"}, "wh"),
    ],
)
def test_missing_or_wrong_keys_are_401_in_the_surface_shape(
    stack, path, method, headers, check
) -> None:
    response = httpx.request(method, stack.base_url + path, headers=headers)
    if check == "vh":
        vh_error(response, 401, "Invalid or missing API key")
    elif check == "he":
        assert he_error(response, 401)["code"] == "UNAUTHORIZED"
    else:
        assert wh_error(response, 401, "UNAUTHORIZED")["message"] == "Invalid or missing API key"


def test_hienergy_key_must_be_sent_as_x_api_key(stack) -> None:
    key = stack.keys["acme"]["admin"]
    he_error(httpx.get(stack.base_url + HE, headers={"authorization": f"Bearer {key}"}), 401)


def test_hienergy_and_webhooks_bad_input(stack) -> None:
    before = jobs()
    he = stack.client("acme", "admin", "he")
    he_error(he.post(HE, json={"report_type": "overview"}), 400, "report_type")
    he_error(
        he.post(HE, json={"report_type": "deals_excel", "search_params": "x"}), 400, "search_params"
    )
    he_error(
        he.post(HE, json={"report_type": "deals_excel", "search_params": {"zip": 1}}),
        400,
        "search_params.zip",
    )
    he_error(he.post(HE, json={"report_type": "deals_excel", "extra": 1}), 400, "extra")
    he_error(he.get(HE, params={"limit": 0}), 400, "limit")
    he_error(he.get(HE, params={"limit": 101}), 400, "limit")
    he_error(he.get(f"{HE}/-1"), 404)
    wh = stack.client("acme", "admin", "wh")
    wh_error(
        wh.post(WH, json={**WH_BODY, "end_time": "2025-11-01T00:00:00Z"}), 400, "INVALID_REQUEST"
    )
    wh_error(wh.post(WH, json={**WH_BODY, "endpoint_id": "ep_123"}), 400, "INVALID_REQUEST")
    wh_error(wh.post(WH, json={**WH_BODY, "status": "lost"}), 400, "INVALID_REQUEST")
    wh_error(wh.post(WH, json={**WH_BODY, "extra": True}), 400, "INVALID_REQUEST")
    wh_error(wh.post(WH, json={"start_time": "2025-12-01"}), 400, "INVALID_REQUEST")
    wh_error(wh.get(f"{WH}/not-a-uuid"), 400, "INVALID_REQUEST")
    wh_error(wh.get(f"{WH}/{uuid.uuid4()}"), 404, "NOT_FOUND")
    wh_error(wh.get(WH, params={"limit": "x"}), 400, "INVALID_REQUEST")
    assert jobs() == before


def _poll(client: httpx.Client, path: str, status: Any) -> Any:
    deadline = time.monotonic() + 90
    while True:
        body = client.get(path).json()
        if status(body) in ("completed", "failed", "succeeded") or time.monotonic() > deadline:
            return body
        time.sleep(0.5)


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
    ):
        vh_error(response, 404, "Export job not found")
    he_error(globex["he"].get(f"{HE}/{he_id}"), 404)
    wh_error(globex["wh"].get(f"{WH}/{wh_id}"), 404, "NOT_FOUND")
    wh_error(globex["wh"].get(f"{WH}/{wh_id}/download"), 404, "NOT_FOUND")
    # HiEnergy scoping inside one account: members see their own reports only.
    member = stack.client("acme", "member", "he")
    he_error(member.get(f"{HE}/{he_id}"), 404)
    mine = member.post(
        HE, json={"report_type": "advertisers_csv", "search_params": {"q": "member"}}
    ).json()["export"]["id"]
    assert [e["id"] for e in member.get(HE).json()["exports"]] == [mine]
    assert mine in [e["id"] for e in acme_he.get(HE).json()["exports"]]


def _nullable(schema: Any) -> Any:
    """OpenAPI 3.0 ``nullable: true`` → JSON Schema ``type: [t, "null"]``."""
    if isinstance(schema, dict):
        out = {k: _nullable(v) for k, v in schema.items() if k != "nullable"}
        if schema.get("nullable"):
            out["type"] = [schema["type"], "null"]
        return out
    if isinstance(schema, list):
        return [_nullable(v) for v in schema]
    return schema


REPORT_TYPES = ["advertisers_csv", "deals_excel", "hot_advertisers_excel", "clicks_details_excel"]
EXPORT = _nullable(
    {  # transcribed from the seed's "Generative export report ... summary"
        "type": "object",
        "required": ["id", "report_type", "status"],
        "properties": {
            "id": {"type": "integer"},
            "report_type": {"type": "string", "enum": REPORT_TYPES},
            "display_name": {"type": "string"},
            "status": {"type": "string", "enum": ["pending", "processing", "completed", "failed"]},
            "status_display": {"type": "string"},
            "parameters": {"type": "object", "additionalProperties": True},
            "filename": {"type": "string", "nullable": True},
            "download_url": {"type": "string", "format": "uri", "nullable": True},
            "download_expires_in_seconds": {"type": "integer", "nullable": True},
            "error_message": {"type": "string", "nullable": True},
            "progress": {
                "type": "object",
                "nullable": True,
                "properties": {
                    "parts_ready": {"type": "integer"},
                    "total_parts": {"type": "integer"},
                },
            },
            "parent_report_id": {"type": "integer", "nullable": True},
            "chunked_export": {"type": "boolean"},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
            "started_at": {"type": "string", "format": "date-time", "nullable": True},
            "completed_at": {"type": "string", "format": "date-time", "nullable": True},
            "status_url": {"type": "string", "format": "uri", "nullable": True},
        },
    }
)
ONE = {
    "type": "object",
    "required": ["export"],
    "properties": {"export": EXPORT, "deduped": {"type": "boolean"}},
}
LIST = {
    "type": "object",
    "required": ["exports", "meta"],
    "properties": {
        "exports": {"type": "array", "items": EXPORT},
        "meta": {
            "type": "object",
            "properties": {"count": {"type": "integer"}, "limit": {"type": "integer"}},
        },
    },
}


def _valid(instance: Any, schema: Any) -> None:
    jsonschema.validate(instance, schema, format_checker=jsonschema.FormatChecker())


def test_hienergy_responses_match_the_seed_schemas(stack) -> None:
    he = stack.client("initech", "admin", "he")
    created = he.post(
        HE,
        json={
            "report_type": "advertisers_csv",
            "search_params": {"status": "active"},
            "index_params": {"sort": "epc", "order": "desc"},
        },
    )
    assert created.status_code == 201
    _valid(created.json(), ONE)
    export_id = created.json()["export"]["id"]
    done = _poll(he, f"{HE}/{export_id}", lambda b: b["export"]["status"])
    _valid(done, ONE)
    export = done["export"]
    assert export["status"] == "completed" and export["filename"].endswith(".csv")
    assert 0 < export["download_expires_in_seconds"] <= 3600
    assert export["progress"]["parts_ready"] == export["progress"]["total_parts"]
    assert export["status_url"] == f"{stack.base_url}{HE}/{export_id}"
    listed = he.get(HE, params={"limit": 3}).json()
    _valid(listed, LIST)
    assert listed["meta"] == {"count": len(listed["exports"]), "limit": 3}
    ids = [e["id"] for e in listed["exports"]]
    assert ids == sorted(ids, reverse=True) and ids[0] == export_id

    url = export["download_url"]
    file = httpx.get(url)
    assert file.status_code == 200
    assert f'filename="{export["filename"]}"' in file.headers["content-disposition"]
    tampered = url[:-1] + ("0" if url[-1] != "0" else "1")
    assert httpx.get(tampered).status_code == 403
    expired = url.replace("expires=", "expires=1&x=")
    assert httpx.get(expired).status_code in (403, 422, 400)


def test_openapi_describes_all_three_surfaces(stack) -> None:
    spec = httpx.get(stack.base_url + "/openapi.json").json()
    paths = spec["paths"]
    assert set(paths[VH]) == {"get", "post"}
    assert set(paths[f"{VH}/{{job_id}}"]) == {"get", "delete"}
    assert "get" in paths[f"{VH}/{{job_id}}/download"]
    assert set(paths[HE]) == {"get", "post"} and "get" in paths[f"{HE}/{{job_id}}"]
    assert set(paths[WH]) == {"get", "post"} and "get" in paths[f"{WH}/{{export_id}}"]
    assert "get" in paths[f"{WH}/{{export_id}}/download"]
    operation_ids = {op.get("operationId") for item in paths.values() for op in item.values()}
    assert {"createExportReport", "listExportReports", "getExportReport"} <= operation_ids
    ref = paths[HE]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert body["required"] == ["report_type"]
    assert body["properties"]["report_type"]["enum"] == REPORT_TYPES
