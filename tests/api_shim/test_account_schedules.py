"""Accounts' recurring exports over HTTP on the running stack, fired by Prefect's scheduler.

A schedule due every minute makes a job that succeeds and shows in the account's list;
a retried run of the period finds that job; pausing leaves no scheduled run behind;
a schedule deleted in Prefect is put back by the sync; deleting removes it from Prefect.
Validation names the field; a failed write on either side leaves nothing half-made.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from jobstore.models import ExportJob
from jobstore.schedules import account_schedules
from jobstore.store import job_engine
from submission.prefect_schedules import slug_for

BASE = "/account/v1/schedules"
T = TypeVar("T")
EVERY_MINUTE = {
    "name": "acme live overview, every minute",
    "surface": "verifyhuman",
    "report_type": "overview",
    "format": "csv",
    "filters": {"env": "live"},
    "range": "previous-day",
    "cron": "* * * * *",
    "timezone": "Europe/Berlin",
}


def _wait(probe: Callable[[], T | None], seconds: float, what: str) -> T:
    deadline = time.monotonic() + seconds
    while True:
        found = probe()
        if found:
            return found
        assert time.monotonic() < deadline, f"no {what} within {seconds} s"
        time.sleep(1)


def _prefect(prefect_server: str, method: str, path: str, **kwargs: Any) -> Any:
    for _ in range(10):  # the session's SQLite Prefect server answers 503 while busy
        response = httpx.request(method, f"{prefect_server}{path}", timeout=30, **kwargs)
        if response.status_code != 503:
            break
        time.sleep(0.5)
    response.raise_for_status()
    return response.json() if response.content else None


def _held(prefect_server: str, schedule_id: str) -> dict[str, Any] | None:
    deployment = _prefect(
        prefect_server, "GET", "/deployments/name/recurring-export/recurring-export"
    )
    for schedule in deployment["schedules"]:
        if schedule["slug"] == slug_for(schedule_id):
            return dict(schedule, deployment_id=deployment["id"])
    return None


def _scheduled_runs(prefect_server: str, prefect_schedule_id: str) -> list[dict[str, Any]]:
    runs = _prefect(
        prefect_server,
        "POST",
        "/flow_runs/filter",
        json={"flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}}, "limit": 200},
    )
    return [r for r in runs if (r.get("created_by") or {}).get("id") == prefect_schedule_id]


def _jobs_of(schedule_id: str) -> list[ExportJob]:
    with job_engine().connect() as conn:
        rows = conn.execute(select(ExportJob).where(ExportJob.schedule_id == schedule_id))
        return list(rows.all())  # type: ignore[arg-type]


@pytest.fixture
def acme(stack) -> Iterator[httpx.Client]:
    with stack.client("acme", "admin", "wh") as client:
        yield client


def test_a_schedule_due_every_minute_makes_jobs_then_pauses_and_goes(
    stack, prefect_server, acme
) -> None:
    started = time.monotonic()
    created = acme.post(BASE, json=EVERY_MINUTE)
    assert created.status_code == 201, created.text
    schedule = created.json()["data"]
    sid = schedule["id"]
    assert schedule["paused"] is False and schedule["preset"] is None
    assert schedule["format"] == "csv" and schedule["cron"] == "* * * * *"
    runs = [datetime.fromisoformat(t) for t in schedule["next_runs"]]
    assert len(runs) == 3 and all(t.second == 0 and t.utcoffset() for t in runs)
    assert runs[0] - datetime.now(UTC) <= timedelta(seconds=61)

    # A real Prefect schedule of the recurring-export deployment, with its parameters.
    held = _held(prefect_server, sid)
    assert held is not None and held["active"] is True
    assert held["schedule"]["cron"] == "* * * * *"
    assert held["schedule"]["timezone"] == "Europe/Berlin"
    assert held["parameters"]["schedule_id"] == sid
    assert held["parameters"]["account"] == "acme"
    assert _scheduled_runs(prefect_server, held["id"]), "Prefect scheduled its next runs"

    # Prefect's scheduler fires it; the job is in acme's list and succeeds, in 2 minutes.
    vh = stack.client("acme", "admin", "vh")
    (job,) = _wait(lambda: _jobs_of(sid), 120 - (time.monotonic() - started), "job")
    listed = vh.get("/api/reports/exports", params={"per_page": 100}).json()["exports"]
    assert job.id in [e["id"] for e in listed]

    def finished() -> dict[str, Any] | None:
        body = vh.get(f"/api/reports/exports/{job.id}").json()
        return body if body["status"] in ("succeeded", "failed") else None

    done = _wait(finished, 120 - (time.monotonic() - started), "finished job")
    assert done["status"] == "succeeded", done
    berlin_yesterday = (datetime.now(ZoneInfo("Europe/Berlin")) - timedelta(days=1)).date()
    day = berlin_yesterday.isoformat()
    assert done["params"] == {"env": "live", "from": day, "to": day}
    assert time.monotonic() - started < 120

    # A retried run of the same period finds its job instead of making another.
    retry = _prefect(
        prefect_server,
        "POST",
        f"/deployments/{held['deployment_id']}/create_flow_run",
        json={"parameters": held["parameters"]},
    )

    def retry_done() -> bool:
        run = _prefect(prefect_server, "GET", f"/flow_runs/{retry['id']}")
        return run["state_type"] in ("COMPLETED", "FAILED", "CRASHED")

    _wait(retry_done, 60, "retried run")
    assert _prefect(prefect_server, "GET", f"/flow_runs/{retry['id']}")["state_type"] == "COMPLETED"
    assert [j.id for j in _jobs_of(sid)] == [job.id]

    # Paused: Prefect's schedule is inactive and keeps no scheduled run, loop after loop.
    paused = acme.post(f"{BASE}/{sid}/pause")
    assert paused.status_code == 200 and paused.json()["data"]["paused"] is True
    assert paused.json()["data"]["next_runs"] == []
    assert _held(prefect_server, sid)["active"] is False  # type: ignore[index]
    time.sleep(12)  # more than two loops of the test server's scheduler (5 s)
    assert _scheduled_runs(prefect_server, held["id"]) == []

    # Deleted in the Prefect UI: the sync puts it back from the job store (still paused).
    _prefect(
        prefect_server, "DELETE", f"/deployments/{held['deployment_id']}/schedules/{held['id']}"
    )
    assert _held(prefect_server, sid) is None
    from submission.schedules import sync_schedules

    report = asyncio.run(sync_schedules())
    assert sid in report.created
    again = _held(prefect_server, sid)
    assert again is not None and again["active"] is False and again["id"] != held["id"]
    (row,) = [s for s in account_schedules(job_engine(), 1) if s.id == sid]
    assert row.prefect_schedule_id == again["id"]

    # Resumed, then deleted: gone from Prefect and from the API; its job stays.
    assert acme.post(f"{BASE}/{sid}/resume").json()["data"]["paused"] is False
    assert _held(prefect_server, sid)["active"] is True  # type: ignore[index]
    assert acme.delete(f"{BASE}/{sid}").status_code == 204
    assert _held(prefect_server, sid) is None
    assert _scheduled_runs(prefect_server, again["id"]) == []
    assert acme.get(f"{BASE}/{sid}").status_code == 404
    assert [j.id for j in _jobs_of(sid)] == [job.id]
    assert time.monotonic() - started < 170


def _refused(client: httpx.Client, changes: dict[str, Any], status: int = 400) -> str:
    body = {**EVERY_MINUTE, "cron": "0 7 * * *", **changes}
    answer = client.post(BASE, json={k: v for k, v in body.items() if v is not None})
    assert answer.status_code == status, answer.text
    envelope = answer.json()
    assert set(envelope) == {"error", "meta"} and envelope["meta"]["request_id"]
    return str(envelope["error"]["message"])


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"report_type": "no-such-report"}, "report_type"),
        ({"surface": "fax"}, "surface"),
        ({"format": "xlsx"}, "format"),
        ({"filters": {"env": "live", "colour": "red"}}, "filters.colour"),
        ({"filters": {"env": "staging"}}, "filters.env"),
        ({"filters": {"env": "live", "from": "2025-01-01"}}, "filters.from"),
        ({"range": "yesterday-ish"}, "range"),
        ({"cron": "61 * * * *"}, "cron"),
        ({"cron": "0 7 * *"}, "cron"),
        ({"cron": None, "preset": "hourly"}, "preset"),
        ({"cron": None, "preset": "daily", "at": "25:00"}, "at"),
        ({"cron": None}, "cron"),
        ({"preset": "daily"}, "cron"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        (
            {
                "surface": "hienergy",
                "report_type": "clicks_details_excel",
                "format": None,
                "filters": {"search_params": {"converted": "maybe"}},
            },
            "filters.search_params.converted",
        ),
        (
            {"surface": "hienergy", "report_type": "deals_excel", "format": None, "filters": {}},
            "range: deals_excel takes no date range",
        ),
    ],
)
def test_bad_schedules_are_refused_with_the_field_named(acme, changes, named) -> None:
    before = len(account_schedules(job_engine(), 1))
    assert named in _refused(acme, changes)
    assert len(account_schedules(job_engine(), 1)) == before


def test_plans_keys_and_accounts(stack, acme) -> None:
    with stack.client("umbrella", "admin", "wh") as starter:  # Starter may not export
        message = _refused(starter, {}, 403)
    assert message == "Export functionality requires Growth plan or higher"
    with stack.client("acme", "member", "wh") as member:
        assert member.get(BASE).status_code == 403
        assert member.post(BASE, json=EVERY_MINUTE).status_code == 403
    weekly = {**EVERY_MINUTE, "cron": None, "preset": "weekly", "at": "07:00", "paused": True}
    made = acme.post(BASE, json={k: v for k, v in weekly.items() if v is not None})
    assert made.status_code == 201, made.text
    sid = made.json()["data"]["id"]
    try:
        assert made.json()["data"]["cron"] == "0 7 * * 1" and made.json()["data"]["at"] == "07:00"
        with stack.client("globex", "admin", "wh") as other:
            assert other.get(f"{BASE}/{sid}").status_code == 404
            assert other.delete(f"{BASE}/{sid}").status_code == 404
            assert sid not in [s["id"] for s in other.get(BASE).json()["data"]]
        edited = acme.patch(f"{BASE}/{sid}", json={"at": "08:30", "range": "previous-week"})
        assert edited.status_code == 200, edited.text
        data = edited.json()["data"]
        assert (data["cron"], data["preset"], data["range"]) == (
            "30 8 * * 1",
            "weekly",
            "previous-week",
        )
        assert acme.patch(f"{BASE}/{sid}", json={"cron": "bad"}).status_code == 400
        assert acme.patch(f"{BASE}/{sid}", json={"surface": None}).status_code == 400
        assert acme.get(f"{BASE}/{sid}").json()["data"]["cron"] == "30 8 * * 1"
        assert sid in [s["id"] for s in acme.get(BASE).json()["data"]]
    finally:
        assert acme.delete(f"{BASE}/{sid}").status_code == 204
