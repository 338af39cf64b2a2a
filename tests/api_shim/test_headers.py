"""Response headers over HTTP: ``nosniff`` on every answer (JSON, errors, downloads, the
document and its page), ``no-store`` on the export surfaces' JSON, which carries signed
download URLs; and on the 500s Starlette's error middleware answers itself."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.api_shim.http_checks import HE, HTTP_TIMEOUT, VH, WH

JSON = {"content-type": "application/json"}
NOSNIFF = "nosniff"


def _request(stack: Any, method: str, path: str, surface: str | None, **kwargs: Any) -> Any:
    with stack.client("acme", "admin", surface or "vh") as client:
        if surface is None:
            client.headers.pop("authorization")
        return client.request(method, path, **kwargs)


ANSWERS = [  # (method, path, surface whose key is sent or None, request, status, export JSON)
    ("GET", VH, "vh", {}, 200, True),
    ("GET", HE, "he", {}, 200, True),
    ("GET", WH, "wh", {}, 200, True),
    ("GET", f"{VH}/999999999", "vh", {}, 404, True),
    ("POST", HE, "he", {"json": {"report_type": "nope"}}, 400, True),
    ("GET", WH, None, {}, 401, True),
    ("PATCH", VH, "vh", {}, 405, True),
    ("POST", WH, "wh", {"content": b"{" + b" " * 70_000 + b"}", "headers": JSON}, 413, True),
    ("GET", "/openapi.json", None, {}, 200, False),
    ("GET", "/docs", None, {}, 200, False),
    ("GET", "/files/x", None, {"params": {"expires": 1, "signature": "0"}}, 403, False),
    ("GET", "/nowhere", None, {}, 404, False),
]


@pytest.mark.parametrize(
    ("method", "path", "surface", "request_kwargs", "status", "export_json"),
    ANSWERS,
    ids=[f"{a[0]}-{a[1]}-{a[4]}" for a in ANSWERS],
)
def test_every_answer_is_nosniff_and_export_json_is_no_store(
    stack, method, path, surface, request_kwargs, status, export_json
) -> None:
    response = _request(stack, method, path, surface, **request_kwargs)
    assert response.status_code == status, response.text
    assert response.headers["x-content-type-options"] == NOSNIFF
    if export_json:
        assert response.headers["content-type"].startswith("application/json")
        assert response.headers["cache-control"] == "no-store"
    else:
        assert "no-store" not in response.headers.get("cache-control", "")


def _finished(client: httpx.Client, path: str, status: Any) -> httpx.Response:
    deadline = time.monotonic() + 120
    while True:
        response = client.get(path)
        if status(response.json()) in ("completed", "failed"):
            return response
        assert time.monotonic() < deadline, response.text
        time.sleep(0.5)


def test_signed_urls_are_not_stored_and_downloads_are_nosniff(stack) -> None:
    he, wh = stack.client("acme", "admin", "he"), stack.client("acme", "admin", "wh")
    created = he.post(HE, json={"report_type": "advertisers_csv", "search_params": {"q": "a"}})
    assert created.status_code in (200, 201), created.text
    export_id = created.json()["export"]["id"]
    window = {"start_time": "2025-12-04T00:00:00Z", "end_time": "2025-12-04T05:59:59Z"}
    wh_id = wh.post(WH, json={**window, "endpoint_id": str(uuid.uuid4())}).json()["data"]["id"]

    done = _finished(he, f"{HE}/{export_id}", lambda b: b["export"]["status"])
    assert done.json()["export"]["download_url"], done.text
    assert done.headers["cache-control"] == "no-store"
    assert done.headers["x-content-type-options"] == NOSNIFF
    file = httpx.get(
        done.json()["export"]["download_url"],
        headers={"Accept-Encoding": "identity"},  # a CSV: gzipped when the client accepts it
        timeout=HTTP_TIMEOUT,
    )
    assert file.status_code == 200 and file.headers["content-type"].startswith("text/csv")
    assert file.headers["x-content-type-options"] == NOSNIFF
    assert file.headers["cache-control"] == "private, no-store"
    assert int(file.headers["content-length"]) == len(file.content)

    _finished(wh, f"{WH}/{wh_id}", lambda b: b["data"]["status"])
    csv = wh.get(f"{WH}/{wh_id}/download")
    assert csv.status_code == 200 and csv.headers["x-content-type-options"] == NOSNIFF
    assert csv.headers["cache-control"] == "private, no-store"


def test_an_unexpected_500_carries_the_headers_too() -> None:
    # Starlette answers unhandled exceptions in ServerErrorMiddleware, outside any middleware
    # added with add_middleware: the headers must wrap even that.
    from api_shim.app import create_app

    app = create_app()

    def explode() -> None:
        raise RuntimeError("a bug")

    app.add_api_route(f"{HE}/explode/now", explode)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get(f"{HE}/explode/now")
    assert response.status_code == 500
    assert response.json() == {"error": {"code": "INTERNAL_ERROR", "message": "Internal error"}}
    assert response.headers["x-content-type-options"] == NOSNIFF
    assert response.headers["cache-control"] == "no-store"
