"""HiEnergy answers against the response schemas printed in the seed documents.

``schemas/hienergy_exports.json`` holds the seed's schemas as printed (OpenAPI 3.0); here
``nullable: true`` becomes a ``[type, "null"]`` type, and ``date-time`` and ``uri``
formats are really checked (jsonschema checks ``uri`` only with an optional package).
One export is followed through every answer the seed describes: create (201), the
in-flight duplicate (409), pending and completed reads, the deduped create (200), the
list, and its ``download_url``, which needs no key.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jsonschema
import pytest
from jsonschema import Draft202012Validator

from jobstore.store import get_job, job_engine
from tests.api_shim.http_checks import HE, runner_paused
from tests.factories import query

SEED = json.loads((Path(__file__).parent / "schemas" / "hienergy_exports.json").read_text())
EXPORT_FIELDS = set(SEED["$defs"]["ExportReport"]["properties"])
FORMATS = jsonschema.FormatChecker()
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    """RFC 3339 ``date-time``, and a real date and time."""
    if not isinstance(value, str):
        return True
    if not RFC3339.fullmatch(value):
        return False
    datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    return True


@FORMATS.checks("uri", raises=ValueError)
def _uri(value: object) -> bool:
    """An absolute http(s) URI a client can follow."""
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and " " not in value


def from_openapi(schema: Any) -> Any:
    """OpenAPI 3.0 → JSON Schema: ``nullable: true`` becomes ``type: [t, "null"]``."""
    if isinstance(schema, list):
        return [from_openapi(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: from_openapi(value) for key, value in schema.items() if key != "nullable"}
    if schema.get("nullable") is True:
        out["type"] = [schema["type"], "null"]
    return out


def validator(name: str) -> Draft202012Validator:
    """A validator of the seed schema ``name`` (ExportResponse, ExportList)."""
    schema = {**from_openapi(SEED), "$ref": f"#/$defs/{name}"}
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FORMATS)


ONE, LIST = validator("ExportResponse"), validator("ExportList")


def valid(response: httpx.Response, status: int, schema: Draft202012Validator) -> Any:
    """The body of a ``status`` answer valid against the seed, with only documented fields."""
    assert response.status_code == status, response.text
    instance = response.json()
    errors = sorted(schema.iter_errors(instance), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)
    for export in instance["exports"] if "exports" in instance else [instance["export"]]:
        assert set(export) == EXPORT_FIELDS, set(export) ^ EXPORT_FIELDS
    return instance


GOOD = {
    "id": 1,
    "report_type": "deals_excel",
    "display_name": "Deals (Excel)",
    "status": "completed",
    "status_display": "Completed",
    "parameters": {"search_params": {}},
    "filename": "deals.xlsx",
    "download_url": "https://files.example.com/deals.xlsx?sig=abc",
    "download_expires_in_seconds": 3600,
    "error_message": None,
    "progress": {"parts_ready": 2, "total_parts": 2},
    "parent_report_id": None,
    "chunked_export": True,
    "created_at": "2025-12-31T10:00:00Z",
    "updated_at": "2025-12-31T10:01:30Z",
    "started_at": "2025-12-31T10:00:01Z",
    "completed_at": "2025-12-31T10:01:30Z",
    "status_url": "https://app.hienergy.ai/api/v1/exports/1",
}


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"id": "1"}, id="id-as-string"),
        pytest.param({"status": "succeeded"}, id="status-of-another-surface"),
        pytest.param({"download_url": "/files/abc?sig=1"}, id="relative-download-url"),
        pytest.param({"created_at": "2025-12-31 10:00:00"}, id="created-at-not-rfc3339"),
        pytest.param({"completed_at": "2025-02-30T10:00:00Z"}, id="completed-at-not-a-date"),
        pytest.param({"progress": {"parts_ready": "1", "total_parts": 2}}, id="progress-str"),
        pytest.param({"chunked_export": None}, id="chunked-export-null"),
    ],
)
def test_the_transcribed_schema_refuses_what_the_seed_forbids(change) -> None:
    nullable = {
        k for k, v in SEED["$defs"]["ExportReport"]["properties"].items() if "nullable" in v
    }
    assert ONE.is_valid({"export": GOOD, "deduped": False})
    assert ONE.is_valid({"export": {**GOOD, **{name: None for name in nullable}}})
    assert not ONE.is_valid({"export": {**GOOD, **change}})
    assert not LIST.is_valid({"exports": [{**GOOD, **change}], "meta": {"count": 1, "limit": 1}})


def _poll(client: httpx.Client, export_id: int) -> tuple[dict[str, Any], list[str]]:
    """GET the export until it is final, validating every answer; and the statuses seen."""
    seen: list[str] = []
    deadline = time.monotonic() + 120
    while True:
        export = valid(client.get(f"{HE}/{export_id}"), 200, ONE)["export"]
        if not seen or seen[-1] != export["status"]:
            seen.append(export["status"])
        if export["status"] in ("completed", "failed"):
            return export, seen
        assert time.monotonic() < deadline, f"export {export_id} is still {export['status']}"
        time.sleep(0.5)


def _stamp(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_every_answer_about_one_export_matches_the_seed(stack, demo_db_path) -> None:
    client = stack.client("initech", "admin", "he")
    body = {
        "report_type": "advertisers_csv",
        "search_params": {"status": "active"},
        "index_params": {"sort": "epc", "order": "desc"},
    }
    with runner_paused(stack):
        first = valid(client.post(HE, json=body), 201, ONE)
        export, export_id = first["export"], first["export"]["id"]
        assert first["deduped"] is False and export["status"] == "pending"
        assert export["status_display"] == "Pending" and export["chunked_export"] is False
        for absent in ("filename", "download_url", "download_expires_in_seconds", "progress"):
            assert export[absent] is None, absent
        assert export["parameters"] == {
            "search_params": {"status": "active"},
            "index_params": body["index_params"],
        }
        pending = valid(client.get(f"{HE}/{export_id}"), 200, ONE)["export"]
        assert pending["status"] == "pending" and pending["parameters"] == export["parameters"]
        # The seed: "an in-flight duplicate returns 409 with the existing report attached".
        duplicate = valid(client.post(HE, json=body), 409, ONE)
        assert duplicate["export"]["id"] == export_id and duplicate["deduped"] is False

    done, seen = _poll(client, export_id)
    assert seen == [s for s in ("pending", "processing", "completed") if s in seen], seen
    job = get_job(job_engine(), export_id)
    assert done["status_display"] == "Completed" and done["error_message"] is None
    assert done["filename"] == job.filename and done["filename"].endswith(".csv")
    assert 0 < done["download_expires_in_seconds"] <= 3600
    expires = int(parse_qs(urlsplit(done["download_url"]).query)["expires"][0])
    assert abs(expires - time.time() - done["download_expires_in_seconds"]) < 60
    assert done["progress"]["parts_ready"] == done["progress"]["total_parts"] == job.parts_total
    assert done["chunked_export"] is (job.parts_total > 1)
    assert done["status_url"] == f"{stack.base_url}{HE}/{export_id}"
    stamps = [_stamp(done[k]) for k in ("created_at", "started_at", "completed_at", "updated_at")]
    assert stamps == sorted(stamps)

    # The seed: same-parameter requests "return the existing completed report with deduped=true".
    again = valid(client.post(HE, json=body), 200, ONE)
    assert again["deduped"] is True and again["export"]["id"] == export_id
    listed = valid(client.get(HE, params={"limit": 3}), 200, LIST)
    assert listed["meta"] == {"count": len(listed["exports"]), "limit": 3}
    ids = [e["id"] for e in listed["exports"]]
    assert ids == sorted(ids, reverse=True) and ids[0] == export_id

    url = done["download_url"]
    file = httpx.get(url)  # no key: the signature is the authorisation
    assert file.status_code == 200
    assert f'filename="{done["filename"]}"' in file.headers["content-disposition"]
    _, *rows = list(csv.reader(io.StringIO(file.content.decode("utf-8"))))
    ((expected,),) = query(
        demo_db_path,
        "SELECT count(*) FROM advertisers WHERE account_id = ? AND status = 'active'",
        job.account_id,
    )
    assert len(rows) == job.row_count == expected > 0
    tampered = url[:-1] + ("0" if url[-1] != "0" else "1")
    assert httpx.get(tampered).status_code == 403
