"""The page's Schedules section over HTTP in process: admins only, CSRF on every change,
validation errors beside their field, create / list / pause / resume / delete through the
schedules service. Creating needs Prefect: the stack (its ``recurring-export`` deployment)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api_shim.app import create_app
from jobstore.schedules import account_schedules
from jobstore.store import job_engine
from tests.page.conftest import sign_in

NEW = "/ui/schedules/new?report=verifyhuman:overview"
WEEKLY = {
    "report": "verifyhuman:overview",
    "name": "Page weekly overview",
    "format": "csv",
    "range": "previous-week",
    "when": "weekly",
    "at": "07:30",
    "cron": "",
    "timezone": "Europe/Berlin",
    "env": "live",
}
SCHEDULE_ID = re.compile(r'id="schedule-([0-9a-f-]{36})"')


@pytest.fixture
def clean(page_accounts) -> Iterator[None]:
    """No schedule of ours left behind by a failed test (deleted through the page)."""
    yield
    if account_schedules(job_engine(), page_accounts.ours):
        with TestClient(create_app(), follow_redirects=False) as admin:
            token = sign_in(admin, page_accounts.keys["admin"])
            for sid in SCHEDULE_ID.findall(admin.get("/ui/schedules").text):
                admin.post(f"/ui/schedules/{sid}/delete", data={"csrf_token": token})


def _error_beside(html: str, field_id: str) -> str:
    found = re.search(rf'<p class="field-error" id="{field_id}-error">(.*?)</p>', html, re.S)
    assert found, html[-3000:]
    assert re.search(rf'id="{field_id}"[^>]*aria-describedby="[^"]*{field_id}-error', html)
    return re.sub(r"<[^>]+>", "", found.group(1))


def test_members_get_no_section(client: TestClient, page_accounts) -> None:
    token = sign_in(client, page_accounts.keys["member"])
    assert 'href="/ui/schedules"' not in client.get("/ui/").text
    for path in ("/ui/schedules", NEW):
        assert client.get(path).status_code == 404
    refused = client.post("/ui/schedules", data={**WEEKLY, "csrf_token": token})
    assert refused.status_code == 404
    assert account_schedules(job_engine(), page_accounts.ours) == []


def test_admins_see_the_link_and_the_form_has_no_date_fields(client, page_accounts) -> None:
    sign_in(client, page_accounts.keys["admin"])
    assert 'href="/ui/schedules"' in client.get("/ui/").text
    listed = client.get("/ui/schedules")
    assert listed.status_code == 200 and 'href="/ui/schedules/new?report=' in listed.text
    form = client.get(NEW)
    assert form.status_code == 200
    for name in ("format", "range", "when", "at", "cron", "timezone", "env"):
        assert f'name="{name}"' in form.text, name
    assert 'name="from"' not in form.text and 'name="to"' not in form.text
    assert client.get("/ui/schedules/new?report=nope").status_code == 404


def test_changes_need_the_csrf_token(client, page_accounts) -> None:
    sign_in(client, page_accounts.keys["admin"])
    assert client.post("/ui/schedules", data=WEEKLY).status_code == 403
    sid = "0190a8e4-0000-7000-8000-000000000000"
    for action in ("pause", "resume", "delete"):
        assert client.post(f"/ui/schedules/{sid}/{action}", data={}).status_code == 403


def test_errors_beside_the_field(stack, clean, client, page_accounts) -> None:
    token = sign_in(client, page_accounts.keys["admin"])
    cases = [
        ({"when": "cron", "cron": "every day"}, "f-cron", "cron"),
        ({"timezone": "Mars/Olympus"}, "f-timezone", "Mars/Olympus"),
        ({"at": "25:00"}, "f-at", "at"),
        ({"format": "doc"}, "f-format", "Invalid format"),
    ]
    for changes, field_id, word in cases:
        refused = client.post("/ui/schedules", data={**WEEKLY, **changes, "csrf_token": token})
        assert refused.status_code == 400, (changes, refused.text[-2000:])
        assert word in _error_beside(refused.text, field_id), changes
        assert 'value="Page weekly overview"' in refused.text  # what was typed stays
    assert account_schedules(job_engine(), page_accounts.ours) == []


def test_create_list_pause_resume_delete(stack, clean, client, page_accounts) -> None:
    token = sign_in(client, page_accounts.keys["admin"])
    made = client.post("/ui/schedules", data={**WEEKLY, "csrf_token": token})
    assert made.status_code == 303, made.text[-2000:]
    assert made.headers["location"] == "/ui/schedules?notice=created"
    (row,) = account_schedules(job_engine(), page_accounts.ours)
    try:
        assert (row.cron, row.preset, row.timezone, row.filters) == (
            "30 7 * * 1",
            "weekly",
            "Europe/Berlin",
            {"env": "live"},
        )
        listed = client.get(made.headers["location"]).text
        assert SCHEDULE_ID.findall(listed) == [row.id]
        for text in ("The schedule was created.", "Page weekly overview", "Overview", "CSV"):
            assert text in listed, text
        assert "Weekly (Mondays) at 07:30" in listed and "Active" in listed
        assert re.search(r"\d{4}-\d{2}-\d{2} 07:30 <span", listed)  # next run, local time
        with TestClient(client.app, follow_redirects=False) as other:
            other_token = sign_in(other, page_accounts.keys["other"])
            assert row.id not in other.get("/ui/schedules").text
            stolen = other.post(f"/ui/schedules/{row.id}/pause", data={"csrf_token": other_token})
            assert stolen.status_code == 404
        paused = client.post(f"/ui/schedules/{row.id}/pause", data={"csrf_token": token})
        assert paused.headers["location"] == "/ui/schedules?notice=paused"
        listed = client.get(paused.headers["location"]).text
        assert "Paused" in listed and f"/ui/schedules/{row.id}/resume" in listed
        resumed = client.post(f"/ui/schedules/{row.id}/resume", data={"csrf_token": token})
        assert resumed.headers["location"] == "/ui/schedules?notice=resumed"
        assert "Active" in client.get(resumed.headers["location"]).text
    finally:
        gone = client.post(f"/ui/schedules/{row.id}/delete", data={"csrf_token": token})
    assert gone.headers["location"] == "/ui/schedules?notice=deleted"
    listed = client.get(gone.headers["location"]).text
    assert "No schedules yet." in listed and row.id not in listed
    assert account_schedules(job_engine(), page_accounts.ours) == []
