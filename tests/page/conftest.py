"""In-process page clients (no Prefect: only jobs without a flow run are read) and helpers."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from api_shim.app import create_app
from jobstore.accounts import create_account, create_api_key
from jobstore.models import ExportJob, LaunchMode
from jobstore.store import create_job, init_store, job_engine

OVERVIEW_FORM = {
    "report": "overview",
    "format": "csv",
    "env": "live",
    "from": "2025-12-01",
    "to": "2025-12-02",
}
"""A valid new-export form (VerifyHuman overview, two days), without its CSRF token."""
TOKEN = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


@dataclass(frozen=True)
class PageAccounts:
    """Two accounts of their own (ids far from the demo's 1-5), keys by role."""

    ours: int
    theirs: int
    free: int
    keys: dict[str, str]  # "admin", "member", "other", "free", "revoked"


@pytest.fixture(scope="session")
def page_accounts() -> PageAccounts:
    """Accounts the page tests own: growth ``ours``, pro ``theirs``, a free one."""
    engine = job_engine()
    init_store(engine)
    tag = secrets.token_hex(3)
    ours = create_account(engine, f"page-ours-{tag}", "growth", account_id=9101).id
    theirs = create_account(engine, f"page-theirs-{tag}", "pro", account_id=9102).id
    free = create_account(engine, f"page-free-{tag}", "free", account_id=9103).id
    keys = {
        "admin": create_api_key(engine, ours, "admin", "admin@ours.test"),
        "member": create_api_key(engine, ours, "member", "member@ours.test"),
        "other": create_api_key(engine, theirs, "admin", "admin@theirs.test"),
        "free": create_api_key(engine, free, "admin", "admin@free.test"),
    }
    return PageAccounts(ours, theirs, free, keys)


@pytest.fixture
def client() -> Iterator[TestClient]:
    """A client of a new app (its own sign-in limiter); no lifespan, so nothing launches."""
    yield TestClient(create_app(), follow_redirects=False)


def token_of(html: str) -> str:
    """The CSRF token of the first form of a page."""
    found = TOKEN.search(html)
    assert found, html[:500]
    return found.group(1)


def sign_in(client: TestClient, key: str) -> str:
    """Sign in with ``key``; the session's CSRF token."""
    form = client.get("/ui/sign-in")
    signed = client.post(
        "/ui/sign-in", data={"csrf_token": token_of(form.text), "api_key": key, "next": "/ui/"}
    )
    assert signed.status_code == 303, signed.text
    return token_of(client.get("/ui/").text)


def local_job(
    account_id: int, user: str, surface: str = "verifyhuman", **params: object
) -> ExportJob:
    """A queued job that no launcher picks up (the CLI's kind): read, never run."""
    reports = {"verifyhuman": "overview", "hienergy": "deals_excel", "webhooks": "message-log"}
    formats = {"verifyhuman": "csv", "hienergy": "xlsx", "webhooks": "csv"}
    return create_job(
        job_engine(),
        surface=surface,
        account_id=account_id,
        report_type=reports[surface],
        fmt=formats[surface],
        params=params or {"env": "live", "from": "2025-12-01", "to": "2025-12-02"},
        requested_by=user,
        launch_mode=LaunchMode.LOCAL,
    )
