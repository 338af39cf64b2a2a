"""Webhook deliveries on a real SQLite job store to real HTTP receivers on loopback.

Each attempt is the product's own (``submission.webhooks.attempt`` on rows the terminal
transition wrote); receivers check signatures with their own HMAC computation.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from jobstore import store
from jobstore.accounts import create_account
from jobstore.models import DeliveryState, WebhookDelivery, WebhookEndpoint
from jobstore.transitions import (
    mark_cancelled,
    mark_expired,
    mark_failed,
    mark_running,
    mark_succeeded,
)
from jobstore.webhooks import claim_due, get_endpoint, rotate_secret
from report_exports.database import engine_for
from report_exports.errors import ValidationError
from report_exports.settings import Settings, get_settings
from submission.progress import job_progress
from submission.status import surface_status
from submission.webhooks import TargetRefused, attempt, check_target, register
from surfaces.base import JobShown
from surfaces.registry import get_surface
from tests.webhook_receiver import Received, receiver, signatures, verified

FAST = {
    "REPORT_EXPORTS_WEBHOOK_ALLOW_HTTP_LOOPBACK": "true",
    "REPORT_EXPORTS_WEBHOOK_RETRY_BASE_SECONDS": "0.05",
    "REPORT_EXPORTS_WEBHOOK_TIMEOUT_SECONDS": "0.5",
}
WH_PARAMS = {"start_time": "2025-12-01T00:00:00Z", "end_time": "2025-12-06T23:59:59Z"}


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """A fresh job store with two accounts, and settings for loopback receivers."""
    for name, value in FAST.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    made = engine_for(f"sqlite:///{tmp_path / 'jobs.db'}")
    store.init_store(made)
    create_account(made, "acme", "pro", account_id=1, project_id="proj_acme")
    create_account(made, "globex", "pro", account_id=2, project_id="proj_globex")
    yield made
    get_settings.cache_clear()


def _job(engine: Engine, account_id: int = 1, surface: str = "webhooks") -> int:
    params = (
        WH_PARAMS
        if surface == "webhooks"
        else {"env": "live", "from": "2025-12-01", "to": "2025-12-31"}
    )
    report = "message-log" if surface == "webhooks" else "overview"
    job = store.create_job(
        engine, surface=surface, account_id=account_id, report_type=report, fmt="csv", params=params
    )
    assert mark_running(engine, job.id, flow_run_id=None, parts_total=1, parts_done=0)
    return job.id


def _succeed(engine: Engine, job_id: int) -> None:
    assert mark_succeeded(
        engine,
        job_id,
        row_count=7,
        file_size_bytes=321,
        sha256="ab" * 32,
        filename="export.csv",
        content_type="text/csv",
        storage_key=f"exports/{job_id}.csv",
        expires_at=datetime.now(UTC) + timedelta(hours=1),
    )


def _deliver(engine: Engine) -> int:
    """One pass of what the deliver-webhooks flow does; how many attempts it made."""
    claimed = claim_due(engine, lease=timedelta(seconds=30))
    for delivery in claimed:
        attempt(engine, delivery)
    return len(claimed)


def _deliveries(engine: Engine) -> list[WebhookDelivery]:
    with Session(engine) as session:
        return list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def _deliver_until_settled(engine: Engine, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _deliver(engine)
        if all(d.state != DeliveryState.PENDING for d in _deliveries(engine)):
            return
        time.sleep(0.02)
    raise AssertionError("deliveries still pending")


def test_a_succeeded_job_is_delivered_signed_with_the_job_as_its_surface_shows_it(
    engine: Engine,
) -> None:
    with receiver() as hook:
        endpoint = register(engine, 1, url=hook.url, events=["export.succeeded"])
        job_id = _job(engine)
        assert _deliveries(engine) == []  # nothing before the job ends
        _succeed(engine, job_id)
        (row,) = _deliveries(engine)  # written with the transition, before any process ran
        assert (row.state, row.event, row.job_id) == ("pending", "export.succeeded", job_id)
        assert _deliver(engine) == 1
        (got,) = hook.wait_for(1)

    assert verified(got, endpoint.secret)
    assert not verified(got, "whsec_some-other-secret")
    tampered = Received(got.at, got.path, got.headers, got.body.replace(b"321", b"322"))
    assert not verified(tampered, endpoint.secret)
    assert got.headers["Report-Exports-Delivery"] == row.public_id
    assert got.headers["Report-Exports-Event"] == "export.succeeded"
    assert got.headers["Content-Type"] == "application/json"
    event = json.loads(got.body)
    job = store.get_job(engine, job_id)
    status = surface_status("webhooks", job.state, None, file_present=True)
    progress = job_progress(job, datetime.now(UTC), working=False).as_json()
    shown = get_surface("webhooks").show_job(JobShown(job, status, "proj_acme", progress))
    assert event == {
        "id": row.event_id,
        "type": "export.succeeded",
        "created_at": event["created_at"],
        "surface": "webhooks",
        "data": {"export": shown},
    }
    assert event["data"]["export"]["status"] == "completed"
    assert event["data"]["export"]["file_size_bytes"] == 321
    (done,) = _deliveries(engine)
    assert (done.state, done.attempts, done.last_status_code) == ("succeeded", 1, 200)


def test_500_twice_then_the_third_attempt_lands_with_the_same_delivery_id(engine: Engine) -> None:
    with receiver(answers=[500, 500]) as hook:
        endpoint = register(engine, 1, url=hook.url, events=["export.failed"])
        job_id = _job(engine, surface="verifyhuman")
        assert mark_failed(engine, job_id, "export failed", "ValueError: internal detail")
        _deliver_until_settled(engine)
        got = hook.wait_for(3)

    assert len(got) == 3
    assert len({r.headers["Report-Exports-Delivery"] for r in got}) == 1
    assert len({r.body for r in got}) == 1  # every retry sends the first attempt's body
    assert all(verified(r, endpoint.secret) for r in got)
    (row,) = _deliveries(engine)
    assert (row.state, row.attempts, row.last_status_code) == ("succeeded", 3, 200)
    assert [a["status_code"] for a in row.attempt_log] == [500, 500, 200]
    assert got[0].headers["Report-Exports-Delivery"] == row.public_id
    export = json.loads(got[0].body)["data"]["export"]
    assert export["status"] == "failed" and export["error"] == "export failed"
    assert "internal detail" not in got[0].body.decode()  # operators' detail stays inside
    assert get_endpoint(engine, 1, endpoint.public_id).failing_since is None


def test_only_the_jobs_account_and_the_events_asked_for_are_delivered(engine: Engine) -> None:
    with receiver() as mine, receiver() as theirs, receiver() as failures_only:
        register(engine, 1, url=mine.url, events=["export.cancelled", "export.expired"])
        register(engine, 2, url=theirs.url, events=["export.cancelled", "export.succeeded"])
        register(engine, 1, url=failures_only.url, events=["export.failed"])
        cancelled = _job(engine, account_id=1)
        assert mark_cancelled(engine, cancelled)
        assert not mark_cancelled(engine, cancelled)  # refused: no second event
        expired = _job(engine, account_id=1)
        _succeed(engine, expired)
        assert mark_expired(engine, expired)
        _deliver_until_settled(engine)
        got = mine.wait_for(2)
        time.sleep(0.2)
        assert theirs.got == [] and failures_only.got == []
    assert sorted(r.headers["Report-Exports-Event"] for r in got) == [
        "export.cancelled",
        "export.expired",
    ]
    assert len(got) == 2


def test_rotation_signs_with_both_secrets_during_the_overlap_only(engine: Engine) -> None:
    with receiver() as hook:
        endpoint = register(engine, 1, url=hook.url, events=["export.failed"])
        rotated = rotate_secret(engine, 1, endpoint.public_id, overlap=timedelta(hours=1))
        assert rotated.secret != endpoint.secret and rotated.previous_secret == endpoint.secret
        assert mark_failed(engine, _job(engine), "export failed")
        _deliver(engine)
        (during,) = hook.wait_for(1)
        assert len(signatures(during)) == 2
        assert verified(during, endpoint.secret) and verified(during, rotated.secret)

        with engine.begin() as conn:  # the overlap ends
            conn.execute(
                update(WebhookEndpoint).values(
                    previous_secret_expires_at=datetime.now(UTC) - timedelta(seconds=1)
                )
            )
        assert mark_failed(engine, _job(engine), "export failed")
        _deliver(engine)
        after = hook.wait_for(2)[1]
    assert len(signatures(after)) == 1
    assert verified(after, rotated.secret) and not verified(after, endpoint.secret)


def _settings(**values: Any) -> Settings:
    """The defaults (whatever the session's environment says), changed by ``values``."""
    defaults = {"webhook_allow_http_loopback": False, "webhook_allow_private_targets": False}
    return Settings(**(defaults | values))


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://hooks.example.com/x", "https://"),
        ("http://127.0.0.1:9/x", "https://"),  # loopback http needs the setting
        ("https://127.0.0.1/x", "private"),
        ("https://localhost/x", "private"),
        ("https://10.1.2.3/x", "private"),
        ("https://192.168.0.10/x", "private"),
        ("https://169.254.169.254/latest/meta-data", "private"),  # cloud metadata
        ("https://[::1]/x", "private"),
        ("https://[fd00:ec2::254]/x", "private"),
        ("https://[::ffff:10.0.0.1]/x", "private"),
        ("https://0.0.0.0/x", "private"),
        ("https://metadata.google.internal/x", "metadata"),
        ("https://user:pw@93.184.215.14/x", "credentials"),
        ("ftp://93.184.215.14/x", "https://"),
        ("https:///nohost", "https://"),
        ("not a url", "https://"),
        ("https://no-such-host.invalid/x", "resolved"),
        ("https://93.184.215.14:99999/x", "valid URL"),
    ],
)
def test_targets_that_could_reach_inside_are_refused(url: str, why: str) -> None:
    with pytest.raises(TargetRefused) as refused:
        check_target(url, _settings())
    assert why in refused.value.message and refused.value.field == "url"


def test_settings_open_loopback_and_private_targets_and_public_ones_pass() -> None:
    assert check_target("https://93.184.215.14/hook", _settings()).address == "93.184.215.14"
    loopback = _settings(webhook_allow_http_loopback=True)
    assert check_target("http://127.0.0.1:8650/x", loopback).port == 8650
    assert check_target("http://localhost:8650/x", loopback).host == "localhost"
    with pytest.raises(TargetRefused):
        check_target("http://10.1.2.3/x", loopback)  # only loopback may be http
    with pytest.raises(TargetRefused):
        check_target("https://10.1.2.3/x", loopback)
    private = _settings(webhook_allow_private_targets=True)
    assert check_target("https://10.1.2.3/x", private).address == "10.1.2.3"


def test_unknown_events_and_long_descriptions_are_refused(engine: Engine) -> None:
    with pytest.raises(ValidationError, match="Unknown event 'export.started' in events") as bad:
        register(engine, 1, url="https://93.184.215.14/x", events=["export.started"])
    assert bad.value.field == "events"
    with pytest.raises(ValidationError, match="at least one"):
        register(engine, 1, url="https://93.184.215.14/x", events=[])
    with pytest.raises(ValidationError) as long:
        register(
            engine,
            1,
            url="https://93.184.215.14/x",
            events=["export.failed"],
            description="d" * 501,
        )
    assert long.value.field == "description"


def test_the_target_is_checked_again_at_delivery_time(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with receiver() as hook:
        register(engine, 1, url=hook.url, events=["export.failed"])
        monkeypatch.setenv("REPORT_EXPORTS_WEBHOOK_ALLOW_HTTP_LOOPBACK", "false")
        get_settings.cache_clear()
        assert mark_failed(engine, _job(engine), "export failed")
        assert _deliver(engine) == 1
        time.sleep(0.2)
        assert hook.got == []
    (row,) = _deliveries(engine)
    assert row.state == "pending" and row.attempts == 1 and row.last_status_code is None
    assert (row.last_error or "").startswith("refused: url must use https://")


def test_redirects_are_not_followed(engine: Engine) -> None:
    with receiver() as elsewhere, receiver(answers=[307]) as hook:
        hook.location = elsewhere.url
        register(engine, 1, url=hook.url, events=["export.failed"])
        assert mark_failed(engine, _job(engine), "export failed")
        _deliver(engine)
        hook.wait_for(1)
        time.sleep(0.2)
        assert elsewhere.got == []
    (row,) = _deliveries(engine)
    assert (row.state, row.last_status_code) == ("pending", 307)
    assert "redirects are not followed" in (row.last_error or "")


def test_a_hanging_receiver_is_cut_off_by_the_timeout_and_retried(engine: Engine) -> None:
    with receiver(delay=3) as hook:
        register(engine, 1, url=hook.url, events=["export.failed"])
        assert mark_failed(engine, _job(engine), "export failed")
        started = time.monotonic()
        _deliver(engine)
        took = time.monotonic() - started
        hook.wait_for(1)
    assert took < 2, took  # the 0.5 s timeout, not the receiver's 3 s
    (row,) = _deliveries(engine)
    assert row.state == "pending" and row.attempts == 1
    assert "Timeout" in (row.last_error or "") and row.next_attempt_at is not None


def test_an_endpoint_failing_for_the_whole_period_is_disabled_and_says_why(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REPORT_EXPORTS_WEBHOOK_DISABLE_AFTER_SECONDS", "0.3")
    monkeypatch.setenv("REPORT_EXPORTS_WEBHOOK_RETRY_FOR_SECONDS", "0.6")
    get_settings.cache_clear()
    with receiver(default=503) as hook:
        endpoint = register(engine, 1, url=hook.url, events=["export.failed"])
        assert mark_failed(engine, _job(engine), "export failed")
        _deliver_until_settled(engine)
        assert mark_failed(engine, _job(engine), "export failed")  # after: not even enqueued
        _deliver(engine)
        count = len(hook.got)
    found = get_endpoint(engine, 1, endpoint.public_id)
    assert not found.enabled and found.disabled_at is not None
    assert found.disabled_reason is not None and "HTTP 503" in found.disabled_reason
    (row,) = _deliveries(engine)
    assert row.state == "failed" and row.attempts == count >= 2


def test_the_readme_receiver_verifies_signatures() -> None:
    from fastapi.testclient import TestClient

    from report_exports.settings import PROJECT_ROOT
    from submission.webhooks import sign

    readme = (PROJECT_ROOT / "README.md").read_text()
    start = readme.index("```python\nimport hashlib, hmac, time\n") + len("```python\n")
    code = readme[start : readme.index("```", start)]
    assert len([line for line in code.splitlines() if line.strip()]) <= 13  # short, as promised
    namespace: dict[str, Any] = {}
    exec(code.replace('b"whsec_..."', 'b"whsec_readme"'), namespace)
    client = TestClient(namespace["app"])
    body, now = b'{"type":"export.succeeded"}', int(time.time())

    def post(signature: str | None, content: bytes = body) -> int:
        headers = {"Report-Exports-Signature": signature} if signature is not None else {}
        return client.post("/rex", content=content, headers=headers).status_code

    assert post(sign(body, ["whsec_readme"], now)) == 204
    assert post(sign(body, ["whsec_old", "whsec_readme"], now)) == 204  # rotation overlap
    assert post(sign(body, ["whsec_readme"], now), body + b" ") == 400
    assert post(sign(body, ["whsec_other"], now)) == 400
    assert post(sign(body, ["whsec_readme"], now - 3600)) == 400
    assert post(None) == 400
