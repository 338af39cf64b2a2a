"""``report-exports keys`` through the real CLI on the stack's job store: a key listed (never
its secret), revoked by prefix or id, and then refused with a 401 on all three surfaces."""

from __future__ import annotations

import json
from typing import Any

import httpx
from typer.testing import CliRunner

from cli.main import app
from jobstore.accounts import hash_key
from tests.api_shim.http_checks import HE, HTTP_TIMEOUT, VH, WH, expect_error

runner = CliRunner()


def _cli(*args: str, code: int = 0) -> Any:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result


def _answers(stack: Any, key: str) -> list[httpx.Response]:
    """One read on each surface with ``key``, sent the way the surface takes it."""
    bearer = {"authorization": f"Bearer {key}"}
    return [
        httpx.get(stack.base_url + path, headers=headers, timeout=HTTP_TIMEOUT)
        for path, headers in ((VH, bearer), (HE, {"x-api-key": key}), (WH, bearer))
    ]


def test_a_revoked_key_is_refused_on_every_surface(stack) -> None:
    key = _cli(
        "keys", "create", "--account", "globex", "--role", "admin", "--user", "ops@globex.test"
    ).stdout.strip()
    spare = _cli("keys", "create", "--account", "globex").stdout.strip()
    assert [r.status_code for r in _answers(stack, key)] == [200, 200, 200]

    listed = _cli("keys", "list", "--account", "globex", "--json").stdout
    rows = {row["prefix"]: row for row in json.loads(listed)}
    assert rows[key[:12]]["user"] == "ops@globex.test" and rows[key[:12]]["role"] == "admin"
    assert rows[key[:12]]["revoked"] is None and rows[spare[:12]]["role"] == "member"
    assert set(rows[key[:12]]) == {"id", "prefix", "role", "user", "created", "revoked"}
    table = _cli("keys", "list", "--account", "globex").stdout
    assert [x for x in table.splitlines() if key[:12] in x][0].endswith("active"), table
    for shown in (listed, table):
        assert key not in shown and hash_key(key) not in shown and spare not in shown

    revoked = _cli("keys", "revoke", key[:12], "--account", "globex").stdout
    assert f"key {rows[key[:12]]['id']} ({key[:12]}, admin) revoked at" in revoked
    for response in _answers(stack, key):
        expect_error(response, 401, exact="Invalid or missing API key")
    # Nothing else of the account is touched; the spare key goes by its id.
    assert [r.status_code for r in _answers(stack, stack.keys["globex"]["admin"])] == [200] * 3
    assert [r.status_code for r in _answers(stack, spare)] == [200] * 3
    _cli("keys", "revoke", str(rows[spare[:12]]["id"]))
    assert [r.status_code for r in _answers(stack, spare)] == [401] * 3

    after = {
        row["prefix"]: row
        for row in json.loads(_cli("keys", "list", "--account", "globex", "--json").stdout)
    }
    assert after[key[:12]]["revoked"] and after[spare[:12]]["revoked"]
    assert after[key[:12]]["revoked"] in revoked
    (line,) = [
        x for x in _cli("keys", "list", "--account", "globex").stdout.splitlines() if key[:12] in x
    ]
    assert "ops@globex.test" in line and line.endswith(f"revoked {after[key[:12]]['revoked']}")


def test_revoke_refuses_what_it_cannot_find(stack) -> None:
    missing = _cli("keys", "revoke", "rex_nosuchkey", code=2)
    assert "no API key 'rex_nosuchkey'" in missing.stderr
    # Another account's key is not found through --account.
    acme = stack.keys["acme"]["member"][:12]
    assert "no API key" in _cli("keys", "revoke", acme, "--account", "globex", code=2).stderr
    assert "no account named" in _cli("keys", "list", "--account", "nobody", code=2).stderr
    assert [r.status_code for r in _answers(stack, stack.keys["acme"]["member"])] == [200] * 3
