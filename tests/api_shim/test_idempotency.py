"""Idempotency-Key on the three create endpoints, over HTTP against the running stack.

The same key with the same body gets the first answer again (same status, same bytes,
``Idempotent-Replayed: true``) and makes no job; another body is a 422 and a key held by a
request still running a 409, each in the surface's error shape; 50 concurrent requests
with one key make one job on SQLite (the session's stack) and on PostgreSQL (an API
process of its own).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import random
import socket
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from jobstore.idempotency import KeyScope, claim_key
from jobstore.models import ExportJob, IdempotencyKey
from jobstore.store import job_engine
from tests.api_shim.http_checks import (
    HE,
    HTTP_TIMEOUT,
    VH,
    WH,
    expect_error,
    job_rows,
    no_job_row,
    runner_paused,
)

SURFACES = ["vh", "he", "wh"]
PATHS = {"vh": VH, "he": HE, "wh": WH}
NAMES = {"vh": "verifyhuman", "he": "hienergy", "wh": "webhooks"}
REPLAYED = "idempotent-replayed"
_serial = itertools.count(random.randrange(10_000))


def fresh_body(surface: str) -> dict[str, Any]:
    """A create body no other request of the session sent (so no job dedupe answers it)."""
    n = next(_serial)
    if surface == "vh":
        start = date(2024, 1, 1) + timedelta(days=n % 600)
        end = start + timedelta(days=n % 7)
        return {"report_type": "overview", "format": "csv", "env": "live", **_days(start, end)}
    if surface == "he":
        return {"report_type": "advertisers_csv", "search_params": {"q": f"idem-{n}"}}
    return {
        "start_time": "2025-12-03T00:00:00Z",
        "end_time": "2025-12-03T01:00:00Z",
        "endpoint_id": str(uuid.uuid4()),
    }


def _days(start: date, end: date) -> dict[str, str]:
    return {"from": start.isoformat(), "to": end.isoformat()}


def fresh_key() -> str:
    return f"idem-{uuid.uuid4()}"


def fingerprint(path: str, body: dict[str, Any]) -> str:
    """The request's fingerprint, computed here as the header's contract states it."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"POST {path}\n{canonical}".encode()).hexdigest()


def key_rows(engine: Engine, key: str) -> list[IdempotencyKey]:
    with Session(engine) as session:
        return list(session.scalars(select(IdempotencyKey).where(IdempotencyKey.key == key)))


def client(stack: Any, surface: str, account: str = "acme", role: str = "admin") -> httpx.Client:
    return stack.client(account, role, surface)


@pytest.mark.parametrize("surface", SURFACES)
def test_same_key_and_body_replay_the_first_answer(stack, surface: str) -> None:
    api, path, body, key = client(stack, surface), PATHS[surface], fresh_body(surface), fresh_key()
    before = job_rows()
    first = api.post(path, json=body, headers={"Idempotency-Key": key})
    assert first.status_code == 201, first.text
    assert REPLAYED not in first.headers
    for sent in (key, f'"{key}"'):  # bare, and as the draft's structured-field string
        again = api.post(path, json=body, headers={"Idempotency-Key": sent})
        assert again.status_code == 201 and again.headers[REPLAYED] == "true"
        assert again.content == first.content  # the first answer, byte for byte
        assert again.headers["content-type"] == "application/json"
    assert job_rows() == before + 1
    reordered = dict(reversed(list(body.items())))  # the same JSON, spelled otherwise
    assert api.post(path, json=reordered, headers={"Idempotency-Key": key}).content == first.content
    (row,) = key_rows(job_engine(), key)
    assert row.status_code == 201 and row.surface == NAMES[surface] and row.job_id is not None


@pytest.mark.parametrize("surface", SURFACES)
def test_same_key_with_another_body_is_422_naming_the_header(stack, surface: str) -> None:
    api, path, key = client(stack, surface), PATHS[surface], fresh_key()
    assert api.post(path, json=fresh_body(surface), headers={"Idempotency-Key": key}).is_success
    with no_job_row():
        refused = api.post(path, json=fresh_body(surface), headers={"Idempotency-Key": key})
    expect_error(refused, 422, "Idempotency-Key", field="Idempotency-Key")
    assert REPLAYED not in refused.headers


@pytest.mark.parametrize("surface", SURFACES)
def test_without_the_header_nothing_changes(stack, surface: str) -> None:
    api, path, body = client(stack, surface), PATHS[surface], fresh_body(surface)
    with job_engine().connect() as conn:
        keys_before = conn.execute(select(func.count()).select_from(IdempotencyKey)).scalar()
    first = api.post(path, json=body)
    assert first.status_code == 201 and REPLAYED not in first.headers
    with job_engine().connect() as conn:
        assert conn.execute(select(func.count()).select_from(IdempotencyKey)).scalar() == (
            keys_before
        )


MALFORMED = ["", '""', "k" * 256, '"k', '"a"b"', '"a\\"', "caf\xe9", "tab\there"]


@pytest.mark.parametrize("surface", SURFACES)
def test_malformed_keys_are_refused_in_the_surface_shape(stack, surface: str) -> None:
    api, path = client(stack, surface), PATHS[surface]
    for key in MALFORMED:
        with no_job_row():
            sent = [(b"Idempotency-Key", key.encode("latin-1"))]  # as bytes: é is not ASCII
            refused = api.post(path, json=fresh_body(surface), headers=sent)
        expect_error(refused, 400, "Idempotency-Key", field="Idempotency-Key")
    longest = api.post(path, json=fresh_body(surface), headers={"Idempotency-Key": "k" * 255})
    assert longest.status_code == 201, longest.text


@pytest.mark.parametrize("surface", SURFACES)
def test_a_key_still_being_processed_is_409_until_its_lease_ends(stack, surface: str) -> None:
    api, path, body, key = client(stack, surface), PATHS[surface], fresh_body(surface), fresh_key()
    engine, now = job_engine(), datetime.now(UTC)
    # Another request holds the key (claimed, no answer yet), as the row a create in
    # progress leaves: acme is account 1; on HiEnergy the admin shares the account's keys.
    scope = KeyScope(1, NAMES[surface], "", key)
    claimed, row = claim_key(engine, scope, fingerprint(path, body), now, timedelta(hours=24))
    assert claimed == "run" and row is not None
    with no_job_row():
        busy = api.post(path, json=body, headers={"Idempotency-Key": key})
    expect_error(busy, 409, "still being processed")
    # Its process died: once the lease is over, the next request runs the create.
    with engine.begin() as conn:
        conn.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.id == row.id)
            .values(locked_until=now - timedelta(seconds=1))
        )
    ran = api.post(path, json=body, headers={"Idempotency-Key": key})
    assert ran.status_code == 201 and REPLAYED not in ran.headers
    again = api.post(path, json=body, headers={"Idempotency-Key": key})
    assert again.headers[REPLAYED] == "true" and again.content == ran.content


def test_a_refused_create_keeps_no_answer(stack) -> None:
    starter, key = client(stack, "vh", "umbrella"), fresh_key()  # Starter: no exports
    for _ in range(2):
        refused = starter.post(VH, json=fresh_body("vh"), headers={"Idempotency-Key": key})
        assert refused.status_code == 403 and REPLAYED not in refused.headers
    assert key_rows(job_engine(), key) == []


def test_expired_keys_are_forgotten_on_use_and_by_the_cleanup_flow(stack) -> None:
    from flows.cleanup_expired import cleanup_expired

    api, key, other = client(stack, "wh"), fresh_key(), fresh_key()
    for k in (key, other):
        assert api.post(WH, json=fresh_body("wh"), headers={"Idempotency-Key": k}).is_success
    engine, past = job_engine(), datetime.now(UTC) - timedelta(hours=25)
    with engine.begin() as conn:
        conn.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.key.in_((key, other)))
            .values(created_at=past, expires_at=past + timedelta(hours=24))
        )
    # Past its 24 h the key is new again: another body is a new create, not a 422.
    reused = api.post(WH, json=fresh_body("wh"), headers={"Idempotency-Key": key})
    assert reused.status_code == 201 and REPLAYED not in reused.headers
    result = cleanup_expired()
    assert result["idempotency_keys_forgotten"] >= 1
    assert key_rows(engine, other) == []
    assert len(key_rows(engine, key)) == 1  # the fresh one stays


def test_replay_outlives_the_job_dedupe(stack) -> None:
    """A cancelled job frees its dedupe key; the idempotency key still answers with it."""
    api, body, key = client(stack, "vh"), fresh_body("vh"), fresh_key()
    with runner_paused(stack):
        first = api.post(VH, json=body, headers={"Idempotency-Key": key})
        job_id = first.json()["id"]
        assert api.delete(f"{VH}/{job_id}").status_code == 200
        before = job_rows()
        replay = api.post(VH, json=body, headers={"Idempotency-Key": key})
        assert replay.headers[REPLAYED] == "true" and replay.json()["id"] == job_id
        assert job_rows() == before
        unkeyed = api.post(VH, json=body)  # the same body without the key: a new job
        assert unkeyed.status_code == 201 and unkeyed.json()["id"] != job_id
        assert api.delete(f"{VH}/{unkeyed.json()['id']}").status_code == 200


def test_hienergy_members_never_replay_a_report_they_cannot_read(stack) -> None:
    admin, member = client(stack, "he"), client(stack, "he", role="member")
    body, key = fresh_body("he"), fresh_key()
    theirs = admin.post(HE, json=body, headers={"Idempotency-Key": key})
    assert theirs.status_code == 201
    admins_id = theirs.json()["export"]["id"]
    mine = member.post(HE, json=body, headers={"Idempotency-Key": key})
    assert mine.status_code == 201 and REPLAYED not in mine.headers
    my_id = mine.json()["export"]["id"]
    assert my_id != admins_id
    assert member.get(f"{HE}/{admins_id}").status_code == 404  # what a replay would have leaked
    assert member.get(f"{HE}/{my_id}").status_code == 200
    again = member.post(HE, json=body, headers={"Idempotency-Key": key})
    assert again.headers[REPLAYED] == "true" and again.json()["export"]["id"] == my_id
    # Another account with the same key and body: its own report, never acme's.
    globex = client(stack, "he", "globex").post(HE, json=body, headers={"Idempotency-Key": key})
    assert globex.status_code == 201 and REPLAYED not in globex.headers
    assert globex.json()["export"]["id"] not in (admins_id, my_id)


CONCURRENT = 50


def fire_at_once(base_url: str, path: str, headers: dict[str, str], body: Any) -> list[Any]:
    """``CONCURRENT`` POSTs, each on its own connection, released together by a barrier."""
    barrier = threading.Barrier(CONCURRENT)

    def one(_: int) -> httpx.Response:
        with httpx.Client(base_url=base_url, headers=headers, timeout=HTTP_TIMEOUT) as c:
            c.get("/healthz")  # connected before the barrier
            barrier.wait()
            return c.post(path, json=body)

    with ThreadPoolExecutor(CONCURRENT) as pool:
        return list(pool.map(one, range(CONCURRENT)))


def check_one_job(
    responses: list[Any], engine: Engine, key: str, jobs_before: int, jobs_after: int
) -> None:
    """One answer ran the create; every other one is its replay or a 409 in the shape."""
    statuses = sorted(r.status_code for r in responses)
    originals = [r for r in responses if r.status_code != 409 and REPLAYED not in r.headers]
    assert len(originals) == 1, statuses
    (first,) = originals
    assert first.status_code == 201, first.text
    for response in responses:
        if response.status_code == 409:
            expect_error(response, 409, "still being processed")
        elif response is not first:
            assert response.headers[REPLAYED] == "true" and response.content == first.content
    assert jobs_after == jobs_before + 1
    (row,) = key_rows(engine, key)
    assert row.status_code == 201
    print(f"{CONCURRENT} concurrent: {statuses.count(409)} x 409, the rest replays")


def _headers(stack_keys: dict[str, dict[str, str]], surface: str) -> dict[str, str]:
    secret = stack_keys["acme"]["admin"]
    return {"X-Api-Key": secret} if surface == "he" else {"Authorization": f"Bearer {secret}"}


# One surface per backend: every create goes through the same claim (the other tests
# cover each surface's answers), and 50 requests take seconds on a loaded machine.
@pytest.mark.parametrize("surface", ["vh"])
def test_fifty_concurrent_requests_with_one_key_make_one_job_on_sqlite(stack, surface: str) -> None:
    key, body = fresh_key(), fresh_body(surface)
    headers = {**_headers(stack.keys, surface), "Idempotency-Key": key}
    before = job_rows()
    responses = fire_at_once(stack.base_url, PATHS[surface], headers, body)
    check_one_job(responses, job_engine(), key, before, job_rows())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def postgres_api(stack) -> Iterator[tuple[str, Engine, dict[str, dict[str, str]]]]:
    """An API process whose job store is a scratch PostgreSQL database; (URL, engine, keys).

    Its Prefect address answers nothing: jobs stay queued (launches are retried in the
    background), and no flow run of the session's stack ever reads this store's job ids.
    """
    from demo_data.accounts import seed_accounts
    from deployments.stack import start_api, wait_for_api
    from jobstore.store import init_store
    from report_exports.database import engine_for
    from report_exports.settings import Settings
    from tests.conftest import TEST_VAR
    from tests.postgres import scratch_database, server_url

    with scratch_database(server_url(), prefix="rex_idem") as url:
        engine = engine_for(url)
        init_store(engine)
        keys = seed_accounts(engine, TEST_VAR / f"idem-keys-{uuid.uuid4().hex[:8]}.json")
        settings = Settings(var_dir=TEST_VAR / "idem-pg", api_port=_free_port())
        env = {
            **os.environ,
            "REPORT_EXPORTS_DATABASE_URL": url,
            "PREFECT_API_URL": f"http://127.0.0.1:{_free_port()}/api",
        }
        process = start_api(settings, env)
        try:
            wait_for_api(settings.base_url)
            yield settings.base_url, engine, keys
        finally:
            process.terminate()
            process.wait(timeout=20)


def _jobs(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ExportJob)).scalar_one())


@pytest.mark.postgres
@pytest.mark.parametrize("surface", ["he"])
def test_fifty_concurrent_requests_with_one_key_make_one_job_on_postgresql(
    postgres_api: tuple[str, Engine, dict[str, dict[str, str]]], surface: str
) -> None:
    base_url, engine, keys = postgres_api
    key, body = fresh_key(), fresh_body(surface)
    headers = {**_headers(keys, surface), "Idempotency-Key": key}
    before = _jobs(engine)
    responses = fire_at_once(base_url, PATHS[surface], headers, body)
    check_one_job(responses, engine, key, before, _jobs(engine))
    # Another body under the key is refused there too, in the shape.
    other = httpx.post(base_url + PATHS[surface], json=fresh_body(surface), headers=headers)
    expect_error(other, 422, "Idempotency-Key", field="Idempotency-Key")
