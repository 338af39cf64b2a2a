"""The page's security rules, over HTTP in process: sessions, CSRF, scoping, escaping,
headers and the sign-in limit. No browser, no Prefect."""

from __future__ import annotations

import re
import time

from fastapi.testclient import TestClient

from api_shim.downloads import signing_key
from api_shim.page.session import SESSION_COOKIE, sign
from jobstore.accounts import revoke_api_key
from jobstore.store import job_engine
from tests.page.conftest import OVERVIEW_FORM, local_job, sign_in, token_of


def test_pages_need_a_session(client, page_accounts) -> None:
    for path in ("/ui/", "/ui/exports/new", "/ui/exports/0190a8e4-0000-7000-8000-000000000000"):
        response = client.get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/ui/sign-in?next=/ui/")
    assert client.get("/ui/live/exports").status_code == 401


def test_session_cookie_is_signed_httponly_lax(client, page_accounts) -> None:
    form = client.get("/ui/sign-in")
    response = client.post(
        "/ui/sign-in",
        data={"csrf_token": token_of(form.text), "api_key": page_accounts.keys["admin"]},
    )
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("rex_session=")
    )
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/ui" in cookie
    assert "Secure" not in cookie  # plain http here
    assert page_accounts.keys["admin"] not in cookie  # the key's id, never the key
    assert response.headers["location"] == "/ui/"


def test_cookie_is_secure_over_https(page_accounts) -> None:
    from api_shim.app import create_app

    client = TestClient(create_app(), base_url="https://testserver", follow_redirects=False)
    form = client.get("/ui/sign-in")
    assert "Secure" in form.headers["set-cookie"]
    response = client.post(
        "/ui/sign-in",
        data={"csrf_token": token_of(form.text), "api_key": page_accounts.keys["admin"]},
    )
    assert "Secure" in response.headers["set-cookie"]


def _signed_out(client: TestClient) -> None:
    response = client.get("/ui/")
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/sign-in?next=/ui/&notice=ended"
    assert 'rex_session=""' in response.headers["set-cookie"]  # the bad cookie is dropped


def test_tampered_expired_foreign_and_revoked_cookies_sign_out(client, page_accounts) -> None:
    sign_in(client, page_accounts.keys["admin"])
    good = client.cookies[SESSION_COOKIE]
    assert client.get("/ui/").status_code == 200
    body, mac = good.split(".")
    for bad in (
        body + "." + mac[::-1],  # tampered signature
        body[:-2] + "AA." + mac,  # tampered payload
        sign({"k": 1, "n": "x", "exp": int(time.time()) - 1}),  # expired
        "garbage",
    ):
        client.cookies.set(SESSION_COOKIE, bad, path="/ui")
        _signed_out(client)
    # Signed with the download key itself: the page's key is a different one.
    import base64
    import hashlib
    import hmac

    payload = base64.urlsafe_b64encode(b'{"exp":9999999999,"k":1,"n":"x"}').decode().rstrip("=")
    foreign = payload + "." + hmac.new(signing_key(), payload.encode(), hashlib.sha256).hexdigest()
    client.cookies.set(SESSION_COOKIE, foreign, path="/ui")
    _signed_out(client)


def test_a_revoked_key_signs_its_session_out(client, page_accounts) -> None:
    from jobstore.accounts import create_api_key

    key = create_api_key(job_engine(), page_accounts.ours, "member", "leaver@ours.test")
    sign_in(client, key)
    assert client.get("/ui/").status_code == 200
    revoke_api_key(job_engine(), key[:12], account_id=page_accounts.ours)
    _signed_out(client)


def test_posts_without_the_csrf_token_are_refused(client, page_accounts) -> None:
    form = client.get("/ui/sign-in")
    no_token = client.post("/ui/sign-in", data={"api_key": page_accounts.keys["admin"]})
    assert no_token.status_code == 403 and "security token" in no_token.text
    assert no_token.headers["content-type"].startswith("text/html")
    token = sign_in(client, page_accounts.keys["admin"])
    assert token != token_of(form.text)  # a session gets its own token
    job = local_job(page_accounts.ours, "admin@ours.test")
    body = OVERVIEW_FORM
    for data in (
        body,
        {**body, "csrf_token": "0" * 64},
        {**body, "csrf_token": token_of(form.text)},
    ):
        assert client.post("/ui/exports", data=data).status_code == 403
        assert client.post(f"/ui/exports/{job.public_id}/cancel", data=data).status_code == 403
        assert client.post("/ui/sign-out", data=data).status_code == 403
    as_json = client.post("/ui/exports", json={**body, "csrf_token": token})
    assert as_json.status_code == 403
    assert "Waiting to start" in client.get(f"/ui/exports/{job.public_id}").text  # not cancelled
    out = client.post("/ui/sign-out", data={"csrf_token": token})
    assert out.status_code == 303 and out.headers["location"] == "/ui/sign-in?notice=signed-out"


def test_members_see_their_own_admins_the_account_never_another(client, page_accounts) -> None:
    admins = local_job(page_accounts.ours, "admin@ours.test")
    members = local_job(
        page_accounts.ours,
        "member@ours.test",
        "webhooks",
        start_time="2025-12-01T00:00:00Z",
        end_time="2025-12-01T23:59:59Z",
    )
    theirs = local_job(page_accounts.theirs, "admin@theirs.test", "hienergy")

    sign_in(client, page_accounts.keys["admin"])
    listed = client.get("/ui/").text
    assert (
        f"/ui/exports/{admins.public_id}" in listed and f"/ui/exports/{members.public_id}" in listed
    )
    assert listed.index(members.public_id) < listed.index(admins.public_id)  # newest first
    assert theirs.public_id not in listed
    assert client.get(f"/ui/exports/{members.public_id}").status_code == 200

    member = TestClient(client.app, follow_redirects=False)
    sign_in(member, page_accounts.keys["member"])
    listed = member.get("/ui/").text
    assert members.public_id in listed and admins.public_id not in listed
    for other in (admins, theirs):
        for path in (f"/ui/exports/{other.public_id}", f"/ui/exports/{other.public_id}/download"):
            page = member.get(path)
            assert page.status_code == 404 and "Page not found" in page.text
    for bad in ("not-a-uuid", "../../etc"):
        assert member.get(f"/ui/exports/{bad}").status_code == 404


def test_values_are_escaped(client, page_accounts) -> None:
    evil = '<script>alert("x")</script>'
    job = local_job(
        page_accounts.ours,
        "admin@ours.test",
        "hienergy",
        search_params={"q": evil, "category": [evil, "<b>"]},
        index_params={"sort": "id", "order": "asc"},
    )
    sign_in(client, page_accounts.keys["admin"])
    html = client.get(f"/ui/exports/{job.public_id}").text
    assert evil not in html and "<b>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html


def test_security_headers_and_no_inline_script(client, page_accounts) -> None:
    sign_in(client, page_accounts.keys["admin"])
    for path in ("/ui/sign-in", "/ui/", "/ui/exports/new", "/ui/nowhere", "/ui/static/page.js"):
        response = client.get(path)
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
        if response.headers.get("content-type", "").startswith("text/html"):
            assert all(
                re.search(r'\ssrc="/ui/static/', tag)
                for tag in re.findall(r"<script[^>]*>", response.text)
            )
            assert response.headers["cache-control"] == "no-store"
    missing = client.get("/ui/nowhere")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert client.get("/ui/static/page.js").headers["content-type"].startswith("text/javascript")


def test_sign_in_attempts_are_limited_per_address(client, page_accounts) -> None:
    from report_exports.settings import get_settings

    limit = get_settings().ui_sign_in_limit
    token = token_of(client.get("/ui/sign-in").text)
    for _ in range(limit):
        wrong = client.post("/ui/sign-in", data={"csrf_token": token, "api_key": "rex_wrong"})
        assert wrong.status_code == 400 and "not valid" in wrong.text
    refused = client.post(
        "/ui/sign-in", data={"csrf_token": token, "api_key": page_accounts.keys["admin"]}
    )
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert "rex_session" not in refused.headers.get("set-cookie", "")
    # Another address is not held back by this one's attempts.
    other = TestClient(client.app, client=("192.0.2.7", 50000), follow_redirects=False)
    assert sign_in(other, page_accounts.keys["admin"])


def test_sign_in_goes_only_to_pages_of_the_site(client, page_accounts) -> None:
    for target, expected in (
        ("https://evil.example/", "/ui/"),
        ("//evil.example/ui/", "/ui/"),
        ("/ui//evil.example", "/ui/"),
        ("/ui/exports/new", "/ui/exports/new"),
    ):
        client.cookies.delete(SESSION_COOKIE)
        token = token_of(client.get("/ui/sign-in").text)  # each sign-in spends its nonce
        response = client.post(
            "/ui/sign-in",
            data={"csrf_token": token, "api_key": page_accounts.keys["admin"], "next": target},
        )
        assert response.headers["location"] == expected
