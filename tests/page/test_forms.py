"""The new-export form is generated from the catalog and validates as the API does."""

from __future__ import annotations

import re

import pytest

from api_shim.page.forms import all_fields, form_of, request_params
from catalog.registry import CATALOGS, validate_request
from report_exports.errors import ValidationError
from tests.api_shim.http_checks import no_job_row
from tests.page.conftest import OVERVIEW_FORM, sign_in


def _fields(report: str) -> dict[str, object]:
    (spec,) = [r for c in CATALOGS.values() for r in c.values() if r.name == report]
    return {f.name: f for f in all_fields(form_of(spec))}


def test_every_report_gets_a_field_for_every_parameter() -> None:
    for catalog in CATALOGS.values():
        for report in catalog.values():
            schema = report.params_model.model_json_schema(by_alias=True)
            names = {f.name.split(".")[0] for f in all_fields(form_of(report))}
            assert names == set(schema["properties"]), report.name


def test_input_types_follow_the_parameter_types() -> None:
    vh = _fields("overview")
    assert vh["env"].kind == "select" and vh["env"].choices == ("test", "live")
    assert vh["from"].kind == vh["to"].kind == "date" and vh["to"].required
    deals = _fields("deals_excel")
    assert deals["search_params.exclusive"].kind == "boolean"
    pct = deals["search_params.min_discount_pct"]
    assert (pct.kind, pct.minimum, pct.maximum) == ("number", "0", "100")
    assert deals["search_params.category"].kind == "list"
    assert deals["search_params.advertiser_id"].kind == "integer"
    assert (
        deals["index_params.sort"].default == "id"
        and "discount_pct" in deals["index_params.sort"].choices
    )
    hooks = _fields("message-log")
    assert (
        hooks["start_time"].kind == "datetime" and hooks["start_time"].label == "Start time (UTC)"
    )
    assert hooks["status"].choices[-1] == "failed_permanent" and not hooks["status"].required


def test_submitted_values_become_the_request_the_catalog_takes() -> None:
    (spec,) = [CATALOGS["webhooks"]["message-log"]]
    body = request_params(
        form_of(spec),
        {"start_time": "2025-12-01T00:00", "end_time": "2025-12-06T23:59:59", "status": ""},
    )
    assert body == {"start_time": "2025-12-01T00:00:00Z", "end_time": "2025-12-06T23:59:59Z"}
    validate_request("webhooks", "message-log", "csv", body)
    deals = CATALOGS["hienergy"]["deals_excel"]
    body = request_params(
        form_of(deals),
        {
            "search_params.category": "Travel, Books",
            "search_params.exclusive": "true",
            "search_params.min_discount_pct": "12.5",
            "index_params.order": "desc",
        },
    )
    assert body == {
        "search_params": {
            "category": ["Travel", "Books"],
            "exclusive": "true",
            "min_discount_pct": "12.5",
        },
        "index_params": {"order": "desc"},
    }
    params = validate_request("hienergy", "deals_excel", "xlsx", body).params_json()
    assert params["search_params"]["min_discount_pct"] == 12.5
    assert params["search_params"]["exclusive"] is True


def _error_beside(html: str, field_id: str) -> str:
    tag = re.search(rf'<(?:input|select)[^>]*id="{field_id}"[^>]*>', html, re.S)
    assert tag, html[:2000]
    assert 'aria-invalid="true"' in tag.group(0)
    assert f"{field_id}-error" in tag.group(0)  # aria-describedby names the message
    found = re.search(
        rf'id="{field_id}-error"><span class="visually-hidden">Error: </span>([^<]+)<', html
    )
    assert found, html
    return found.group(1)


def _api_message(surface: str, report: str, fmt: str, params: dict[str, object]) -> str:
    with pytest.raises(ValidationError) as caught:
        validate_request(surface, report, fmt, params)
    return caught.value.message


@pytest.mark.parametrize(
    ("form", "field_id", "expected"),
    [
        (
            {
                "report": "overview",
                "format": "csv",
                "env": "live",
                "from": "2025-12-10",
                "to": "2025-12-01",
            },
            "f-to",
            _api_message(
                "verifyhuman",
                "overview",
                "csv",
                {"env": "live", "from": "2025-12-10", "to": "2025-12-01"},
            ),
        ),
        (
            {
                "report": "overview",
                "format": "csv",
                "env": "live",
                "from": "2025-01-01",
                "to": "2025-12-31",
            },
            "f-to",
            "Date range exceeds plan limit (93 days on the Growth plan)",
        ),
        (
            {"report": "overview", "format": "csv", "from": "2025-12-01", "to": "2025-12-02"},
            "f-env",
            "Missing required field: env",
        ),
        (
            {"report": "deals_excel", "format": "xlsx", "search_params.min_discount_pct": "150"},
            "f-search-params-min-discount-pct",
            _api_message(
                "hienergy", "deals_excel", "xlsx", {"search_params": {"min_discount_pct": "150"}}
            ),
        ),
        (
            {
                "report": "message-log",
                "format": "csv",
                "start_time": "2025-12-02T00:00",
                "end_time": "2025-12-01T00:00",
            },
            "f-end-time",
            "end_time must be after start_time",
        ),
        (
            {
                "report": "overview",
                "format": "xlsx",
                "env": "live",
                "from": "2025-12-01",
                "to": "2025-12-02",
            },
            "f-format",
            "Invalid format. overview is available as: pdf, csv",
        ),
    ],
    ids=["reversed-range", "plan-range", "missing", "number-bound", "instants", "format"],
)
def test_bad_input_is_said_beside_its_field(
    client, page_accounts, form, field_id, expected
) -> None:
    token = sign_in(client, page_accounts.keys["admin"])
    with no_job_row():
        response = client.post("/ui/exports", data={**form, "csrf_token": token})
    assert response.status_code == 400
    assert _error_beside(response.text, field_id) == expected.replace("'", "&#39;")
    assert 'role="alert"' in response.text  # and summarised above the form


def test_the_plan_gate_refuses_above_the_form(client, page_accounts) -> None:
    token = sign_in(client, page_accounts.keys["free"])
    form = OVERVIEW_FORM
    with no_job_row():
        response = client.post("/ui/exports", data={**form, "csrf_token": token})
    assert response.status_code == 403
    assert "Export functionality requires Growth plan or higher" in response.text


def test_unknown_report_is_refused(client, page_accounts) -> None:
    token = sign_in(client, page_accounts.keys["admin"])
    assert client.get("/ui/exports/new?report=nope").status_code == 404
    with no_job_row():
        response = client.post("/ui/exports", data={"report": "nope", "csrf_token": token})
    assert response.status_code == 400 and "Choose a report" in response.text
