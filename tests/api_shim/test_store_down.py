"""The job store's PostgreSQL down when the API starts: 503 in each surface's shape until
it can be reached, then the API migrates it and serves normally (no restart needed)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from deployments.stack import start_api, wait_for_api
from report_exports.settings import Settings
from tests.conftest import TEST_VAR
from tests.postgres import libpq, server_url

pytestmark = pytest.mark.postgres
BODIES = {  # one create per surface, with its path and headers
    "verifyhuman": (
        "/api/reports/exports",
        {
            "report_type": "usage",
            "format": "pdf",
            "env": "live",
            "from": "2025-12-01",
            "to": "2025-12-31",
        },
    ),
    "hienergy": ("/api/v1/exports", {"report_type": "deals_excel"}),
    "webhooks": (
        "/v1/exports",
        {"start_time": "2025-12-03T00:00:00Z", "end_time": "2025-12-03T23:59:59Z"},
    ),
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def api_on_missing_database() -> Iterator[tuple[str, str]]:
    """An API whose job store database does not exist yet; yields (API URL, store URL)."""
    store = make_url(server_url()).set(database=f"rex_down_{os.getpid()}_{_free_port()}")
    store_url = store.render_as_string(hide_password=False)
    settings = Settings(var_dir=TEST_VAR / "store-down", api_port=_free_port())
    env = {**os.environ, "REPORT_EXPORTS_DATABASE_URL": store_url}
    process = start_api(settings, env)
    try:
        wait_for_api(settings.base_url)
        yield settings.base_url, store_url
    finally:
        process.terminate()
        process.wait(timeout=20)
        with psycopg.connect(libpq(server_url()), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{store.database}" WITH (FORCE)')


def test_store_down_is_503_in_each_shape_then_recovers(
    api_on_missing_database: tuple[str, str],
) -> None:
    base, store_url = api_on_missing_database
    headers = {"authorization": "Bearer rex_nosuchkey", "x-api-key": "rex_nosuchkey"}
    for surface, (path, body) in BODIES.items():
        response = httpx.post(base + path, json=body, headers=headers, timeout=30)
        assert response.status_code == 503, (surface, response.text)
        error = response.json()["error"]
        if surface == "verifyhuman":
            assert error == "Export service temporarily unavailable; try again shortly"
        else:
            assert error["code"] == "SERVICE_UNAVAILABLE", (surface, error)
    assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200  # the process is up

    with psycopg.connect(libpq(server_url()), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{make_url(store_url).database}"')
    # Reachable now: migrated on the next request, which is judged on its merits (bad key).
    for _surface, (path, body) in BODIES.items():
        assert httpx.post(base + path, json=body, headers=headers, timeout=30).status_code == 401
    with psycopg.connect(libpq(store_url)) as conn:
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables").fetchall()}
    assert {"export_jobs", "accounts", "api_keys", "alembic_version"} <= tables
