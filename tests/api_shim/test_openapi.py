"""The OpenAPI document over HTTP: the three surfaces and their request bodies, and the
errors each answers in its own shape, checked against real answers. FastAPI's default
422 ``HTTPValidationError`` must not appear: this API never sends it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from tests.api_shim.http_checks import HE, HTTP_TIMEOUT, VH, WH, surface_of
from tests.factories import DECEMBER

FILES = "/files/{public_id}"
NO_SUCH = "00000000-0000-4000-8000-000000000000"  # a UUID no export has
SURFACE_PATHS = {
    VH: {"get", "post"},
    f"{VH}/{{job_id}}": {"get", "delete"},
    f"{VH}/{{job_id}}/download": {"get"},
    HE: {"get", "post"},
    f"{HE}/{{job_id}}": {"get"},
    WH: {"get", "post"},
    f"{WH}/{{export_id}}": {"get"},
    f"{WH}/{{export_id}}/download": {"get"},
    FILES: {"get"},
    "/account/v1/schedules": {"get", "post"},
    "/account/v1/schedules/{schedule_id}": {"get", "patch", "delete"},
    "/account/v1/schedules/{schedule_id}/pause": {"post"},
    "/account/v1/schedules/{schedule_id}/resume": {"post"},
}
ERROR_SCHEMAS = {"vh": "VerifyHumanError", "he": "HiEnergyError", "wh": "WebhooksError"}
REPORT_TYPES = ["advertisers_csv", "deals_excel", "hot_advertisers_excel", "clicks_details_excel"]
JSON = {"content-type": "application/json"}
TOO_BIG = {"content": b"{" + b" " * 70_000 + b"}", "headers": JSON}


@pytest.fixture(scope="module")
def spec(stack) -> dict[str, Any]:
    """/openapi.json of the running API."""
    response = httpx.get(stack.base_url + "/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


def test_openapi_describes_the_three_surfaces(spec) -> None:
    paths = spec["paths"]
    documented = {p: set(item) for p, item in paths.items()}
    seeds = {p: m for p, m in documented.items() if not p.startswith("/account/")}
    # the account API's paths are its own (/account/v1)
    assert seeds == {p: m for p, m in SURFACE_PATHS.items() if not p.startswith("/account/")}
    for path, methods in SURFACE_PATHS.items():
        assert documented[path] == methods, path
    operation_ids = {op.get("operationId") for item in paths.values() for op in item.values()}
    assert {"createExportReport", "listExportReports", "getExportReport"} <= operation_ids

    def body(path: str) -> dict[str, Any]:
        ref = paths[path]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        return dict(spec["components"]["schemas"][ref.rsplit("/", 1)[1]])

    vh, he, wh = body(VH), body(HE), body(WH)
    assert set(vh["required"]) == {"report_type", "env", "from", "to"}
    assert set(vh["properties"]) == {"report_type", "format", "env", "from", "to"}
    assert he["required"] == ["report_type"]
    assert set(he["properties"]) == {"report_type", "search_params", "index_params"}
    assert he["properties"]["report_type"]["enum"] == REPORT_TYPES
    assert set(wh["required"]) == {"start_time", "end_time"}
    assert vh["additionalProperties"] is he["additionalProperties"] is False
    assert wh["additionalProperties"] is False
    for path, kind in ((f"{VH}/{{job_id}}", "integer"), (f"{WH}/{{export_id}}", "string")):
        (param,) = [p for p in paths[path]["get"]["parameters"] if p["in"] == "path"]
        assert param["schema"]["type"] == kind


def test_every_error_is_documented_in_the_surface_shape_and_none_as_422(spec) -> None:
    schemas = spec["components"]["schemas"]
    assert not {"HTTPValidationError", "ValidationError"} & set(schemas)
    for path, methods in SURFACE_PATHS.items():
        for method in methods:
            responses = spec["paths"][path][method]["responses"]
            # A create's 422 is an Idempotency-Key reused with another body, in the shape.
            assert "422" not in responses or method == "post", f"{method} {path}: a 422"
            errors = [code for code in responses if code[0] in "45"] + ["default"]
            assert {"400", "default"} <= set(errors), f"{method} {path}: {errors}"
            for code in errors:
                if code == "409" and path == HE:
                    continue  # the in-flight duplicate: the existing report, not an error
                schema = responses[code]["content"]["application/json"]["schema"]
                shape = "wh" if path.startswith("/account/") else surface_of(path)
                assert schema["$ref"].endswith("/" + ERROR_SCHEMAS[shape]), (path, code)
    # A schema that refuses nothing would make the next test vacuous.
    fastapi_422 = {"detail": [{"loc": ["body"], "msg": "Field required", "type": "missing"}]}
    for name in ERROR_SCHEMAS.values():
        ref = f"#/components/schemas/{name}"
        validator = Draft202012Validator({"$ref": ref, "components": spec["components"]})
        assert not validator.is_valid(fastapi_422), name
        assert not validator.is_valid({"error": "x", "detail": "x"}), name


def _key(stack: Any, template: str, account: str = "acme") -> dict[str, str]:
    key = stack.keys[account]["admin"]
    return (
        {"x-api-key": key} if surface_of(template) == "he" else {"authorization": f"Bearer {key}"}
    )


ANSWERS = [  # (method, documented path, requested path, request, status, account or None)
    ("post", VH, VH, {"json": {"report_type": "bogus", **DECEMBER}}, 400, "acme"),
    ("post", VH, VH, {"content": b"null", "headers": JSON}, 400, "acme"),
    ("post", VH, VH, TOO_BIG, 413, "acme"),
    ("get", VH, VH, {}, 401, None),
    ("get", VH, VH, {}, 403, "umbrella"),
    ("get", VH, VH, {"params": {"page": 0}}, 400, "acme"),
    ("get", f"{VH}/{{job_id}}", f"{VH}/{2**63}", {}, 404, "acme"),
    ("delete", f"{VH}/{{job_id}}", f"{VH}/abc", {}, 400, "acme"),
    ("get", f"{VH}/{{job_id}}/download", f"{VH}/999999999/download", {}, 404, "acme"),
    ("post", HE, HE, {"json": {"report_type": "overview"}}, 400, "acme"),
    ("post", HE, HE, TOO_BIG, 413, "acme"),
    ("get", HE, HE, {}, 401, None),
    ("get", HE, HE, {"params": {"limit": 0}}, 400, "acme"),
    ("get", f"{HE}/{{job_id}}", f"{HE}/999999999", {}, 404, "acme"),
    ("post", WH, WH, {"json": {"start_time": "2025-12-01T00:00:00Z"}}, 400, "acme"),
    ("post", WH, WH, TOO_BIG, 413, "acme"),
    ("get", WH, WH, {}, 401, None),
    ("get", f"{WH}/{{export_id}}", f"{WH}/not-a-uuid", {}, 400, "acme"),
    ("get", f"{WH}/{{export_id}}", f"{WH}/{NO_SUCH}", {}, 404, "acme"),
    ("get", f"{WH}/{{export_id}}/download", f"{WH}/{NO_SUCH}/download", {}, 404, "acme"),
    ("get", FILES, "/files/x", {"params": {"expires": 1, "signature": "0"}}, 403, None),
    ("get", FILES, "/files/x", {"params": {"signature": "0"}}, 400, None),
]


@pytest.mark.parametrize(
    ("method", "template", "path", "request_kwargs", "status", "account"),
    ANSWERS,
    ids=[f"{a[0]}-{a[2]}-{a[4]}" for a in ANSWERS],
)
def test_real_errors_match_what_the_document_says(
    stack, spec, method, template, path, request_kwargs, status, account
) -> None:
    headers = {**request_kwargs.get("headers", {})}
    if account:
        headers |= _key(stack, template, account)
    response = httpx.request(
        method,
        stack.base_url + path,
        **{**request_kwargs, "headers": headers},
        timeout=HTTP_TIMEOUT,
    )
    assert response.status_code == status, response.text
    documented = spec["paths"][template][method]["responses"]
    assert str(status) in documented, f"{method} {template} answers {status} undocumented"
    schema = documented[str(status)]["content"]["application/json"]["schema"]
    validator = Draft202012Validator({**schema, "components": spec["components"]})
    errors = list(validator.iter_errors(response.json()))
    assert not errors, [e.message for e in errors]


def _create_body(spec: dict[str, Any], path: str) -> dict[str, Any]:
    content = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]
    name = content["schema"]["$ref"].rsplit("/", 1)[1]
    return dict(spec["components"]["schemas"][name])


def _strings(schema: Any, where: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every string schema inside ``schema``, with where it is."""
    if isinstance(schema, list):
        return [s for i, item in enumerate(schema) for s in _strings(item, f"{where}[{i}]")]
    if not isinstance(schema, dict):
        return []
    found = [(where, schema)] if schema.get("type") == "string" else []
    for key, value in schema.items():
        if key not in ("examples", "default", "enum"):
            found += _strings(value, f"{where}.{key}")
    return found


def test_create_bodies_say_what_the_catalog_takes(spec) -> None:
    from catalog.registry import CATALOGS

    vh, he, wh = (_create_body(spec, path)["properties"] for path in (VH, HE, WH))
    assert vh["report_type"]["enum"] == list(CATALOGS["verifyhuman"])
    assert vh["format"]["enum"] == ["pdf", "csv"] and vh["env"]["enum"] == ["test", "live"]
    for name in ("from", "to"):
        assert vh[name]["format"] == "date" and vh[name]["maxLength"] == 10
    for name in ("start_time", "end_time"):
        assert wh[name]["format"] == "date-time" and wh[name]["maxLength"] == 64
    for name in ("endpoint_id", "inbound_endpoint_id"):
        assert wh[name]["anyOf"][0]["format"] == "uuid"
    (param,) = [
        p for p in spec["paths"][f"{WH}/{{export_id}}"]["get"]["parameters"] if p["in"] == "path"
    ]
    assert param["schema"]["format"] == "uuid"

    # HiEnergy keeps the seed's open objects, with the keys its reports define typed.
    search, index = he["search_params"]["anyOf"][0], he["index_params"]["anyOf"][0]
    assert search["type"] == index["type"] == "object"
    assert search["additionalProperties"] is index["additionalProperties"] is True
    keys = set()
    for report in CATALOGS["hienergy"].values():
        model = report.params_model.model_fields["search_params"].annotation
        keys |= {f.alias or n for n, f in model.model_fields.items()}
        sort = report.params_model.model_fields["index_params"].annotation.model_fields["sort"]
        assert set(sort.annotation.__args__) <= set(index["properties"]["sort"]["enum"])
    assert set(search["properties"]) == keys
    assert search["properties"]["q"]["anyOf"][0]["maxLength"] == 200
    assert index["properties"]["order"]["enum"] == ["asc", "desc"]

    for path in (VH, HE, WH):
        body = _create_body(spec, path)
        uncapped = [w for w, s in _strings(body) if "enum" not in s and "maxLength" not in s]
        assert not uncapped, f"{path}: strings without a cap at {uncapped}"
        validator = Draft202012Validator({**body, "components": spec["components"]})
        for example in body["examples"]:
            assert validator.is_valid(example), (path, example)


def test_downloads_name_the_types_they_stream(spec) -> None:
    def types(path: str) -> set[str]:
        return set(spec["paths"][path]["get"]["responses"]["200"]["content"])

    assert types(f"{VH}/{{job_id}}/download") == {"application/pdf", "text/csv"}
    assert types(f"{WH}/{{export_id}}/download") == {"text/csv"}
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert types(FILES) == {"application/pdf", "text/csv", xlsx}


def test_creates_document_the_idempotency_key(spec) -> None:
    for path in (VH, HE, WH):
        create = spec["paths"][path]["post"]
        (header,) = [p for p in create["parameters"] if p["name"] == "Idempotency-Key"]
        assert header["in"] == "header" and not header.get("required")
        assert "24 h" in header["description"]
        responses = create["responses"]
        assert {"201", "409", "422"} <= set(responses), (path, set(responses))
        assert "Idempotent-Replayed" in responses["201"]["headers"]
        assert "Idempotency-Key" in responses["422"]["description"]


def test_downloads_document_ranges_and_validators(spec) -> None:
    for path in (f"{VH}/{{job_id}}/download", f"{WH}/{{export_id}}/download", FILES):
        download = spec["paths"][path]["get"]
        headers = {p["name"] for p in download["parameters"] if p["in"] == "header"}
        assert {"Range", "If-Range", "If-None-Match", "Accept-Encoding"} <= headers, path
        responses = download["responses"]
        assert {"200", "206", "304", "416"} <= set(responses), path
        assert responses["206"]["content"] == responses["200"]["content"]
        assert "ETag" in responses["200"]["headers"]
