"""HMAC-signed download URLs of local files: any bad signature is refused, never a 500."""

from __future__ import annotations

import time
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from api_shim.downloads import _signature, verify

BAD_SIGNATURES = [
    "é" * 64,  # non-ASCII: hmac.compare_digest raised TypeError on str
    "\u0000" * 64,
    "🙂",
    "",
    "0" * 64,
    "A" * 128,
]


@pytest.mark.parametrize("signature", BAD_SIGNATURES)
def test_verify_refuses_any_bad_signature(signature: str) -> None:
    expires = int(time.time()) + 60
    assert verify("0190aaaa-0000-7000-8000-000000000000", expires, signature) is False


def test_verify_accepts_the_right_signature_until_it_expires() -> None:
    public_id, expires = "0190aaaa-0000-7000-8000-000000000001", int(time.time()) + 60
    assert verify(public_id, expires, _signature(public_id, expires)) is True
    assert verify(public_id, expires, _signature(public_id, expires).upper()) is False
    past = int(time.time()) - 1
    assert verify(public_id, past, _signature(public_id, past)) is False


@pytest.mark.parametrize("signature", ["é" * 64, "%FF%FE", "ü"])
def test_files_route_answers_403_for_a_non_ascii_signature(signature: str) -> None:
    from api_shim.app import create_app

    expires = int(time.time()) + 60
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        response = client.get(
            f"/files/0190aaaa-0000-7000-8000-000000000002?expires={expires}"
            f"&signature={quote(signature, safe='%')}"
        )
    assert response.status_code == 403
    assert response.json() == {"error": "Download link is invalid or has expired"}
