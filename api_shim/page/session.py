"""The page's session: a signed cookie naming the API key it was made from, CSRF tokens
bound to it, and a per-address limit on sign-in attempts.

The cookie holds the key's id (never the key), a random nonce and its expiry, signed with
HMAC-SHA256 under a key derived from the download signing key (a separate purpose, so a
signature of one kind is never valid as the other). Every request looks the key up again:
a revoked key signs its sessions out at once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections import deque
from dataclasses import dataclass
from functools import lru_cache

from api_shim.downloads import signing_key

SESSION_COOKIE = "rex_session"
SIGN_IN_COOKIE = "rex_sign_in"
"""Before sign-in there is no session: this cookie carries the nonce the form's token binds."""
SIGN_IN_COOKIE_SECONDS = 3600


@lru_cache
def _key(purpose: str) -> bytes:
    return hmac.new(signing_key(), f"report-exports page {purpose} v1".encode(), "sha256").digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(payload: dict[str, object]) -> str:
    """``base64(json).hex(hmac)`` of the payload."""
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    mac = hmac.new(_key("cookie"), body.encode(), hashlib.sha256).hexdigest()
    return f"{body}.{mac}"


def unsign(value: str | None) -> dict[str, object] | None:
    """The payload of an untampered, unexpired value, else None."""
    if not value or len(value) > 1024 or value.count(".") != 1:
        return None
    body, mac = value.split(".")
    expected = hmac.new(_key("cookie"), body.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), mac.encode("ascii", "replace")):
        return None
    try:
        payload = json.loads(_unb64(body))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("exp"), int | float):
        return None
    if payload["exp"] < time.time():
        return None
    return payload


@dataclass(frozen=True)
class SessionData:
    """What a valid session cookie says: which key, its CSRF nonce, until when."""

    key_id: int
    nonce: str
    expires: int


def new_session(key_id: int, lifetime_seconds: float) -> tuple[SessionData, str]:
    """A fresh session (new nonce: a sign-in never keeps an earlier token) and its cookie."""
    data = SessionData(key_id, secrets.token_urlsafe(18), int(time.time() + lifetime_seconds))
    return data, sign({"k": data.key_id, "n": data.nonce, "exp": data.expires})


def read_session(value: str | None) -> SessionData | None:
    """The session of a cookie, or None when it is missing, tampered with or expired."""
    payload = unsign(value)
    if payload is None:
        return None
    key_id, nonce = payload.get("k"), payload.get("n")
    if not isinstance(key_id, int) or not isinstance(nonce, str):
        return None
    return SessionData(key_id, nonce, int(payload["exp"]))  # type: ignore[call-overload]


def new_sign_in_nonce() -> tuple[str, str]:
    """A nonce for the sign-in form and its signed cookie."""
    nonce = secrets.token_urlsafe(18)
    return nonce, sign({"n": nonce, "exp": int(time.time() + SIGN_IN_COOKIE_SECONDS)})


def read_sign_in_nonce(value: str | None) -> str | None:
    """The nonce of a valid sign-in cookie."""
    payload = unsign(value)
    nonce = payload.get("n") if payload else None
    return nonce if isinstance(nonce, str) else None


def csrf_token(nonce: str) -> str:
    """The token every form of this session (or sign-in nonce) carries."""
    return hmac.new(_key("csrf"), nonce.encode(), hashlib.sha256).hexdigest()


def csrf_valid(nonce: str | None, token: str | None) -> bool:
    """True when ``token`` is the token of ``nonce``."""
    if not nonce or not token:
        return False
    return hmac.compare_digest(csrf_token(nonce).encode(), token.encode("ascii", "replace"))


class AttemptLimiter:
    """At most ``limit`` attempts per client address in any ``window`` seconds (in memory).

    Per process: each API process counts its own. Addresses are forgotten once their
    window has passed; a flood of distinct addresses is capped at ``max_addresses``.
    """

    def __init__(self, limit: int, window: float, max_addresses: int = 10_000) -> None:
        self.limit, self.window, self.max_addresses = limit, window, max_addresses
        self._seen: dict[str, deque[float]] = {}

    def attempt(self, address: str, now: float | None = None) -> float | None:
        """Count an attempt; None when allowed, else seconds until one is allowed again."""
        now = time.monotonic() if now is None else now
        times = self._seen.get(address)
        if times is None:
            if len(self._seen) >= self.max_addresses:
                self._forget_idle(now)
            times = self._seen[address] = deque()
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) >= self.limit:
            return times[0] + self.window - now
        times.append(now)
        return None

    def _forget_idle(self, now: float) -> None:
        for address in [a for a, t in self._seen.items() if not t or t[-1] <= now - self.window]:
            del self._seen[address]
        while len(self._seen) >= self.max_addresses:  # still full: drop the oldest entries
            del self._seen[next(iter(self._seen))]
