"""Bad input over HTTP on every surface: a 4xx in the surface's shape, never a 500, and
no job row. Bodies that are not JSON objects, bodies over the size limit (declared or
chunked), ids no database holds, dates outside the supported span, numbers that are not
finite, unknown routes, and the VerifyHuman plan gate and plan limit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from report_exports.settings import get_settings
from tests.api_shim.http_checks import (
    ANY_FIELD,
    HE,
    HTTP_TIMEOUT,
    VH,
    WH,
    expect_error,
    no_job_row,
    surface_of,
)
from tests.factories import DECEMBER

JSON = {"content-type": "application/json"}
BODIES: dict[str, dict[str, Any]] = {
    VH: {"report_type": "overview", "format": "csv", "env": "live", **DECEMBER},
    HE: {"report_type": "deals_excel"},
    WH: {"start_time": "2025-12-01T00:00:00Z", "end_time": "2025-12-01T23:59:59Z"},
}
SURFACES = [pytest.param(VH, id="vh"), pytest.param(HE, id="he"), pytest.param(WH, id="wh")]
NOT_FOUND = "Export job not found"


def call(stack: Any, method: str, path: str, account: str = "acme", **kwargs: Any) -> Any:
    """One request with the acme admin's key sent the way the path's surface expects."""
    key = stack.keys[account]["admin"]
    auth = {"x-api-key": key} if surface_of(path) == "he" else {"authorization": f"Bearer {key}"}
    headers = {**auth, **kwargs.pop("headers", {})}
    with httpx.Client(base_url=stack.base_url, timeout=HTTP_TIMEOUT) as client:
        return client.request(method, path, headers=headers, **kwargs)


# ------------------------------------------------------------------- the body as a whole


@pytest.mark.parametrize("path", SURFACES)
@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param(b'{"report_type": ', "Request body must be valid JSON", id="truncated"),
        pytest.param(b"", "Request body must be a JSON object", id="empty"),
        pytest.param(b"null", "Request body must be a JSON object", id="null"),
        pytest.param(b"[]", "Request body must be a JSON object", id="array"),
        pytest.param(b'"overview"', "Request body must be a JSON object", id="string"),
        pytest.param(b"5", "Request body must be a JSON object", id="number"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_400(stack, path, raw, message) -> None:
    # Empty and null bodies once read "Missing required field: None".
    with no_job_row():
        response = call(stack, "POST", path, content=raw, headers=JSON)
    expect_error(response, 400, exact=message)


def _body_of(path: str, size: int) -> bytes:
    """A JSON body of exactly ``size`` bytes: the surface's valid body plus a "pad" field."""
    empty = json.dumps({**BODIES[path], "pad": ""}).encode()
    return empty[:-2] + b"x" * (size - len(empty)) + empty[-2:]


def _in_pieces(body: bytes) -> Iterator[bytes]:
    """The body as an iterator, so httpx sends it chunked, with no Content-Length."""
    for start in range(0, len(body), 4096):
        yield body[start : start + 4096]


@pytest.mark.parametrize("path", SURFACES)
@pytest.mark.parametrize("sent", ["content-length", "chunked"])
def test_a_body_over_the_limit_is_413_however_it_is_sent(stack, path, sent) -> None:
    limit = get_settings().max_body_bytes
    for size, status in ((limit, 400), (limit + 1, 413)):
        body = _body_of(path, size)
        with no_job_row():
            response = call(
                stack,
                "POST",
                path,
                content=body if sent == "content-length" else _in_pieces(body),
                headers=JSON,
            )
        assert ("content-length" in response.request.headers) is (sent == "content-length")
        if status == 400:  # at the limit the whole body reaches validation
            expect_error(response, 400, exact="Unknown field: pad", field="pad")
        else:
            expect_error(response, 413, exact=f"Request body over {limit} bytes")


# ------------------------------------------------------------------------------------ ids


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"{VH}/{2**63}"),
        ("GET", f"{VH}/{10**20}/download"),
        ("DELETE", f"{VH}/{10**20}"),
        ("GET", f"{VH}/{2**63 - 1}"),
        ("GET", f"{VH}/0"),
        ("GET", f"{HE}/{2**63}"),
        ("GET", f"{HE}/-1"),
    ],
)
def test_ids_no_job_can_have_are_404(stack, method, path) -> None:
    # Ids beyond 64 bits once reached SQLite and came back as a 500 (OverflowError).
    expect_error(call(stack, method, path), 404, exact=NOT_FOUND)


# ---------------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    ("path", "change", "field", "message"),
    [
        pytest.param(VH, {"from": "20250101"}, "from", "YYYY-MM-DD", id="vh-basic-format"),
        pytest.param(VH, {"from": "2025-W01-1"}, "from", "YYYY-MM-DD", id="vh-week-date"),
        pytest.param(
            VH, {"from": "9999-12-01", "to": "9999-12-31"}, "from", "between", id="vh-year-9999"
        ),
        pytest.param(VH, {"from": "1969-12-31"}, "from", "between", id="vh-before-1970"),
        pytest.param(
            HE,
            {"report_type": "hot_advertisers_excel", "search_params": {"to": "9999-12-31"}},
            "search_params.to",
            "between",
            id="he-year-9999",
        ),
        pytest.param(
            WH, {"start_time": "0001-01-01T00:00:00+01:00"}, "start_time", "between", id="wh-year-1"
        ),
        pytest.param(
            WH, {"end_time": "9999-12-31T23:59:59-01:00"}, "end_time", "between", id="wh-past-9999"
        ),
        pytest.param(
            WH,
            {"start_time": "9999-12-30T00:00:00Z", "end_time": "9999-12-31T23:59:59Z"},
            "start_time",
            "between",
            id="wh-year-9999",
        ),
    ],
)
def test_dates_outside_the_supported_span_are_400_naming_the_field(
    stack, path, change, field, message
) -> None:
    # Once: "20250101" met the plan limit (on "to") before validation; a zone offset at the
    # ends of the calendar raised OverflowError (500); year 9999 was accepted and the job
    # failed computing its window.
    with no_job_row():
        response = call(stack, "POST", path, json={**BODIES[path], **change})
    expect_error(response, 400, message, field=field)


def test_the_plan_limit_counts_both_ends(stack) -> None:
    body = {**BODIES[VH], "report_type": "volume", "env": "test", "from": "2024-03-01"}
    with no_job_row():
        refused = call(stack, "POST", VH, json={**body, "to": "2024-06-02"})  # 94 days
    expect_error(
        refused, 400, exact="Date range exceeds plan limit (93 days on the Growth plan)", field="to"
    )
    accepted = call(stack, "POST", VH, json={**body, "to": "2024-06-01"})  # 93 days
    assert accepted.status_code == 201, accepted.text


# ------------------------------------------------------------------- HiEnergy's numbers


@pytest.mark.parametrize(
    ("report_type", "name", "value"),
    [
        ("advertisers_csv", "min_epc", "Infinity"),
        ("advertisers_csv", "min_epc", "-Infinity"),
        ("advertisers_csv", "min_epc", "NaN"),
        ("advertisers_csv", "min_epc", "1e999"),
        ("deals_excel", "min_discount_pct", "NaN"),
        ("deals_excel", "advertiser_id", "1e999"),
        ("deals_excel", "advertiser_id", str(2**63)),
        ("clicks_details_excel", "deal_id", str(10**20)),
        ("hot_advertisers_excel", "min_clicks", str(10**40)),
    ],
)
def test_hienergy_numbers_no_filter_can_use_are_400(stack, report_type, name, value) -> None:
    # Python's JSON reads NaN, Infinity and 1e999 (as infinity): min_epc took them, made a
    # job, and the answer could not be encoded (500). Ids beyond 64 bits made a job that
    # failed in extract with OverflowError.
    raw = f'{{"report_type": "{report_type}", "search_params": {{"{name}": {value}}}}}'
    with no_job_row():
        response = call(stack, "POST", HE, content=raw.encode(), headers=JSON)
    expect_error(response, 400, field=f"search_params.{name}")


# ------------------------------------------------- plan gate, unknown routes and methods


@pytest.mark.parametrize("account", ["umbrella", "hooli"])  # Starter and Free
def test_the_plan_gate_covers_every_verifyhuman_endpoint(stack, account) -> None:
    with no_job_row():
        answers = [
            call(stack, "GET", f"{VH}/1", account),
            call(stack, "GET", f"{VH}/1/download", account),
            call(stack, "DELETE", f"{VH}/1", account),
        ]
    for response in answers:
        expect_error(response, 403, exact="Export functionality requires Growth plan or higher")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("PUT", f"{VH}/1", 405),
        ("PATCH", HE, 405),
        ("DELETE", f"{HE}/1", 405),
        ("GET", f"{HE}/1/download", 404),
        ("DELETE", f"{WH}/00000000-0000-0000-0000-000000000000", 405),
        ("GET", f"{WH}/00000000-0000-0000-0000-000000000000/files", 404),
    ],
)
def test_unknown_routes_and_methods_answer_in_the_surface_shape(
    stack, method, path, status
) -> None:
    expect_error(call(stack, method, path), status)


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PATCH", VH, "GET, POST"),
        ("PUT", f"{VH}/1", "GET, DELETE"),
        ("POST", f"{VH}/1/download", "GET"),
        ("DELETE", HE, "GET, POST"),
        ("DELETE", f"{HE}/1", "GET"),
        ("PUT", WH, "GET, POST"),
        ("DELETE", f"{WH}/00000000-0000-0000-0000-000000000000", "GET"),
        ("POST", "/files/x", "GET"),
    ],
)
def test_a_405_names_every_method_the_path_takes(stack, method, path, allow) -> None:
    # The route that refuses knows only its own methods: GET and POST of one path are two.
    response = call(stack, method, path)
    expect_error(response, 405, exact="Method not allowed")
    assert response.headers["allow"] == allow


def _timestamp(chars: int) -> str:
    """2025-12-02T00:00:00.000…Z, ``chars`` long (a fraction of as many digits as it takes)."""
    stamp = "2025-12-02T00:00:00.Z"
    return stamp[:-1] + "0" * (chars - len(stamp)) + "Z"


def test_filter_strings_past_their_documented_cap_are_400(stack) -> None:
    # A single category (lists were capped) and a timestamp's fraction had no length limit:
    # 60 kB of either made a job.
    with no_job_row():
        long_category = {**BODIES[HE], "search_params": {"category": "x" * 121}}
        category = call(stack, "POST", HE, json=long_category)
        start = call(stack, "POST", WH, json={**BODIES[WH], "start_time": _timestamp(65)})
    expect_error(category, 400, "at most 120 characters", field=ANY_FIELD)
    assert category.json()["error"]["field"].startswith("search_params.category"), category.text
    expect_error(start, 400, "must be an ISO 8601 timestamp", field="start_time")


@pytest.mark.parametrize(
    ("path", "change"),
    [
        pytest.param(HE, {"search_params": {"category": "x" * 120}}, id="he-category"),
        pytest.param(
            WH, {"start_time": _timestamp(64), "end_time": "2025-12-02T00:00:09Z"}, id="wh-time"
        ),
    ],
)
def test_filter_strings_at_their_cap_are_accepted(stack, path, change) -> None:
    response = call(stack, "POST", path, json={**BODIES[path], **change})
    assert response.status_code in (200, 201), response.text
