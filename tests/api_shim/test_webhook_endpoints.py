"""Webhook endpoints through the account API and the CLI on the running stack, and the whole
path: an export over HTTP ends, its signed event reaches a real receiver on loopback.

Receivers check signatures with their own HMAC computation (``tests.webhook_receiver``).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from typer.testing import CliRunner

from cli.main import app
from tests.api_shim.http_checks import HTTP_TIMEOUT, expect_error
from tests.webhook_receiver import Received, receiver, verified

PATH = "/account/v1/webhook-endpoints"
ENDPOINT_PATHS = {
    PATH: {"get", "post"},
    f"{PATH}/{{endpoint_id}}": {"get", "delete"},
    f"{PATH}/{{endpoint_id}}/rotate-secret": {"post"},
    f"{PATH}/{{endpoint_id}}/enable": {"post"},
    f"{PATH}/{{endpoint_id}}/deliveries": {"get"},
}
WH_RANGE = {"start_time": "2025-12-01T00:00:00Z", "end_time": "2025-12-03T23:59:59Z"}
runner = CliRunner()


def _account_api(stack: Any, account: str = "initech", role: str = "admin") -> httpx.Client:
    key = stack.keys[account][role]
    return httpx.Client(
        base_url=stack.base_url, headers={"authorization": f"Bearer {key}"}, timeout=HTTP_TIMEOUT
    )


def _for_job(got: list[Received], export_id: Any) -> list[Received]:
    """The requests about one export (other tests' jobs may end meanwhile)."""
    return [r for r in got if json.loads(r.body)["data"]["export"]["id"] == export_id]


def _wait(hook: Any, export_id: Any, count: int, timeout: float = 180) -> list[Received]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with hook.lock:
            found = _for_job(hook.got, export_id)
        if len(found) >= count:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{len(found)} deliveries of {export_id} after {timeout} s")


def test_the_account_api_is_documented_beside_the_surfaces(stack) -> None:
    spec = httpx.get(stack.base_url + "/openapi.json", timeout=HTTP_TIMEOUT).json()
    mine = {p: set(item) for p, item in spec["paths"].items() if p.startswith(PATH)}
    assert mine == ENDPOINT_PATHS
    create = spec["paths"][PATH]["post"]
    assert set(create["responses"]) >= {"201", "400", "401", "403", "default"}
    ref = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert body["properties"]["events"]["items"]["enum"] == [
        "export.succeeded",
        "export.failed",
        "export.cancelled",
        "export.expired",
    ]
    error = create["responses"]["400"]["content"]["application/json"]["schema"]["$ref"]
    assert error.endswith("/WebhooksError")


def test_endpoints_are_managed_with_the_admin_key_and_bad_input_is_a_400(stack) -> None:
    api = _account_api(stack)
    good = {"url": "http://127.0.0.1:8601/hook", "events": ["export.failed"], "description": "ops"}
    expect_error(_account_api(stack, role="member").post(PATH, json=good), 403, "admin key")
    expect_error(httpx.post(stack.base_url + PATH, json=good, timeout=HTTP_TIMEOUT), 401)
    for url, why in (
        ("http://hooks.example.com/x", "https://"),
        ("https://10.0.0.7/x", "private"),
        ("https://169.254.169.254/latest", "private"),
        ("https://user:secret@93.184.215.14/x", "credentials"),
        ("javascript:alert(1)", "https://"),
    ):
        expect_error(api.post(PATH, json=good | {"url": url}), 400, why, field="url")
    expect_error(api.post(PATH, json=good | {"events": ["export.started"]}), 400, field="events")
    expect_error(api.post(PATH, json=good | {"events": []}), 400, field="events")
    expect_error(api.post(PATH, json=good | {"secret": "mine"}), 400, "Unknown field")

    created = api.post(PATH, json=good)
    assert created.status_code == 201, created.text
    endpoint = created.json()["data"]
    assert endpoint["secret"].startswith("whsec_") and len(endpoint["secret"]) > 40
    assert endpoint["events"] == ["export.failed"] and endpoint["enabled"] is True
    one = f"{PATH}/{endpoint['id']}"
    listed = api.get(PATH).json()["data"]
    assert [e["id"] for e in listed if e["id"] == endpoint["id"]] == [endpoint["id"]]
    assert all("secret" not in e for e in listed)  # shown once
    assert "secret" not in api.get(one).json()["data"]
    expect_error(_account_api(stack, "globex").get(one), 404)  # not another account's
    expect_error(_account_api(stack, "globex").delete(one), 404)

    rotated = api.post(f"{one}/rotate-secret", json={"overlap_seconds": 600}).json()["data"]
    assert rotated["secret"] != endpoint["secret"]
    overlap_end = datetime.fromisoformat(rotated["previous_secret_expires_at"])
    assert abs(overlap_end - datetime.now(UTC) - timedelta(seconds=600)) < timedelta(seconds=30)
    expect_error(api.post(f"{one}/rotate-secret", json={"overlap_seconds": -1}), 400)
    assert api.get(f"{one}/deliveries").json()["data"] == []

    removed = api.delete(one)
    assert removed.status_code == 200 and removed.json()["data"] == {
        "id": endpoint["id"],
        "deleted": True,
    }
    expect_error(api.get(one), 404)


def test_an_export_ends_and_its_signed_event_arrives_after_two_500s(stack) -> None:
    """Create over HTTP → the job as GET /v1/exports/{id} shows it, at the third attempt."""
    api = _account_api(stack)
    with receiver(answers=[500, 500]) as hook, receiver() as theirs:
        made = api.post(PATH, json={"url": hook.url, "events": ["export.succeeded"]})
        secret = made.json()["data"]["secret"]
        endpoint_id = made.json()["data"]["id"]
        other = _account_api(stack, "globex").post(
            PATH, json={"url": theirs.url, "events": ["export.succeeded", "export.failed"]}
        )
        assert other.status_code == 201

        wh = stack.client("initech", "admin", "wh")
        export = wh.post("/v1/exports", json=WH_RANGE).json()["data"]
        got = _wait(hook, export["id"], 3)
        shown = wh.get(f"/v1/exports/{export['id']}").json()["data"]
        time.sleep(0.5)
        with theirs.lock:
            assert _for_job(theirs.got, export["id"]) == []

    assert len(got) == 3
    assert len({r.headers["Report-Exports-Delivery"] for r in got}) == 1
    assert all(verified(r, secret) for r in got)
    assert all(r.headers["Report-Exports-Event"] == "export.succeeded" for r in got)
    event = json.loads(got[-1].body)
    assert event["type"] == "export.succeeded" and event["surface"] == "webhooks"
    assert event["data"]["export"] == shown  # the job exactly as its surface shows it
    assert shown["status"] == "completed" and shown["file_size_bytes"] > 0
    completed = datetime.fromisoformat(shown["completed_at"]).timestamp()
    print(f"first attempt {got[0].at - completed:.1f} s after completed_at (second precision)")
    assert got[0].at - completed < 15  # promptly, not at the next sweep
    assert got[1].at - got[0].at >= 0.2  # backed off (base 0.5 s with jitter 0.5-1)

    log = api.get(f"{PATH}/{endpoint_id}/deliveries").json()["data"]
    (delivery,) = [d for d in log if d["export_job_id"] == shown_job_id(stack, export["id"])]
    assert delivery["id"] == got[0].headers["Report-Exports-Delivery"]
    assert delivery["state"] == "succeeded" and delivery["attempts"] == 3
    assert [a["status_code"] for a in delivery["attempt_log"]] == [500, 500, 200]
    assert delivery["next_attempt_at"] is None

    listed = runner.invoke(
        app, ["webhooks", "deliveries", endpoint_id, "--account", "initech", "--json"]
    )
    assert listed.exit_code == 0, listed.stderr
    assert delivery["id"] in {d["id"] for d in json.loads(listed.stdout)}


def shown_job_id(stack: Any, public_id: str) -> int:
    """The job row id behind a webhooks export id (the delivery log names job ids)."""
    from sqlalchemy import select

    from jobstore.models import ExportJob
    from jobstore.store import job_engine

    with job_engine().connect() as conn:
        return int(
            conn.execute(select(ExportJob.id).where(ExportJob.public_id == public_id)).scalar_one()
        )


def _cli(*args: str, code: int = 0) -> Any:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result


def test_the_cli_adds_lists_rotates_and_removes_endpoints(stack) -> None:
    added = json.loads(
        _cli(
            "webhooks",
            "add",
            "http://127.0.0.1:8602/x",
            "--account",
            "umbrella",
            "--event",
            "export.expired",
            "--description",
            "cli",
            "--json",
        ).stdout
    )
    assert added["secret"].startswith("whsec_") and added["events"] == ["export.expired"]
    listed = json.loads(_cli("webhooks", "list", "--account", "umbrella", "--json").stdout)
    assert [e["id"] for e in listed] == [added["id"]] and "secret" not in listed[0]
    rotated = json.loads(
        _cli("webhooks", "rotate-secret", added["id"], "--account", "umbrella", "--json").stdout
    )
    assert rotated["secret"] != added["secret"] and rotated["previous_secret_expires_at"]
    refused = _cli("webhooks", "add", "https://10.0.0.1/x", "--account", "umbrella", code=2).stderr
    assert "private" in refused
    assert (
        "Unknown event"
        in _cli(
            "webhooks",
            "add",
            "http://127.0.0.1:8602/x",
            "--account",
            "umbrella",
            "--event",
            "export.done",
            code=2,
        ).stderr
    )
    _cli("webhooks", "remove", added["id"], "--account", "hooli", code=2)  # not hooli's
    _cli("webhooks", "remove", added["id"], "--account", "umbrella")
    assert json.loads(_cli("webhooks", "list", "--account", "umbrella", "--json").stdout) == []
