"""``report-exports schedules`` through the real CLI on the stack's job store and Prefect:
added, listed, edited, paused, resumed and removed, the Prefect schedule following; bad
input is refused with its field and exit code 2."""

from __future__ import annotations

import json
from typing import Any

import httpx
from typer.testing import CliRunner

from cli.main import app
from submission.prefect_schedules import slug_for

runner = CliRunner()


def _cli(*args: str, code: int = 0) -> Any:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result


def _held(prefect_server: str, schedule_id: str) -> dict[str, Any] | None:
    deployment = httpx.get(
        f"{prefect_server}/deployments/name/recurring-export/recurring-export", timeout=30
    ).json()
    found = [s for s in deployment["schedules"] if s["slug"] == slug_for(schedule_id)]
    return found[0] if found else None


def _listed(account: str) -> dict[str, dict[str, Any]]:
    rows = json.loads(_cli("schedules", "list", "--account", account, "--json").stdout)
    return {row["id"]: row for row in rows}


def test_schedules_through_the_cli(stack, prefect_server) -> None:
    before = set(_listed("initech"))
    _cli(
        "schedules", "add", "--account", "initech", "--surface", "webhooks",
        "--report", "message-log", "--range", "last-7-days", "--preset", "monthly",
        "--at", "06:15", "--timezone", "America/New_York", "--filters", '{"status": "failed"}',
    )  # fmt: skip
    (sid,) = set(_listed("initech")) - before
    row = _listed("initech")[sid]
    assert (row["cron"], row["preset"], row["at"], row["format"]) == (
        "15 6 1 * *",
        "monthly",
        "06:15",
        "csv",
    )
    assert len(row["next_runs"]) == 3 and all("T06:15:00-0" in t for t in row["next_runs"])
    held = _held(prefect_server, sid)
    assert held is not None and held["active"] and held["parameters"]["account"] == "initech"
    assert held["id"] == row["prefect_schedule_id"]

    _cli("schedules", "edit", "--account", "initech", sid, "--cron", "30 5 * * 1-5")
    assert _held(prefect_server, sid)["schedule"]["cron"] == "30 5 * * 1-5"  # type: ignore[index]
    assert _listed("initech")[sid]["preset"] is None
    _cli("schedules", "pause", "--account", "initech", sid)
    assert _held(prefect_server, sid)["active"] is False  # type: ignore[index]
    assert _listed("initech")[sid]["next_runs"] == []
    _cli("schedules", "resume", "--account", "initech", sid)
    assert _held(prefect_server, sid)["active"] is True  # type: ignore[index]

    refused = _cli(
        "schedules", "edit", "--account", "initech", sid, "--timezone", "Nowhere", code=2
    )
    assert "timezone" in refused.stderr
    assert _cli("schedules", "pause", "--account", "globex", sid, code=2)  # not globex's
    _cli("schedules", "remove", "--account", "initech", sid)
    assert _held(prefect_server, sid) is None and sid not in _listed("initech")
