"""The ``Idempotency-Key`` request header of the create endpoints (IETF httpapi draft).

Read and checked here, documented on each create operation, and handed with a fingerprint
of the request to :func:`submission.idempotency.create_once`, which decides whether the
create runs or its first answer is replayed (``Idempotent-Replayed: true``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Header, Request
from fastapi.responses import JSONResponse, Response

from api_shim.errors import ApiError, error_responses
from jobstore.accounts import Principal
from submission.idempotency import HEADER, Answer, create_once
from surfaces.base import Surface

MAX_KEY_CHARS = 255
REPLAYED_HEADER = "Idempotent-Replayed"
MALFORMED = f"{HEADER} must be 1 to {MAX_KEY_CHARS} printable ASCII characters"
_PRINTABLE = re.compile(r"[\x20-\x7e]+")

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias=HEADER,
        description=(
            "Makes the create safe to retry: the same key with the same body within 24 h "
            "answers with the first response (same status, `Idempotent-Replayed: true`); "
            "the same key with another body is refused (422), one still being processed "
            f"gets 409. 1 to {MAX_KEY_CHARS} printable ASCII characters, bare or as a "
            'structured-field string ("..."), scoped to the account.'
        ),
        json_schema_extra={"minLength": 1, "maxLength": MAX_KEY_CHARS + 2},
    ),
]


def parse_key(raw: str | None) -> str | None:
    """The key, bare or unquoted from the draft's sf-string form; 400 when malformed."""
    if raw is None:
        return None
    value = raw.strip()
    if value.startswith('"'):  # the draft's sf-string: it must be whole
        if len(value) < 2 or not value.endswith('"'):
            raise ApiError(400, MALFORMED, field=HEADER)
        inner = value[1:-1]
        if re.search(r'\\[^"\\]|\\$|(?<!\\)"', inner.replace("\\\\", "")):
            raise ApiError(400, MALFORMED, field=HEADER)
        value = re.sub(r'\\(["\\])', r"\1", inner)
    if not 0 < len(value) <= MAX_KEY_CHARS or not _PRINTABLE.fullmatch(value):
        raise ApiError(400, MALFORMED, field=HEADER)
    return value


async def fingerprint(request: Request) -> str:
    """SHA-256 of the method, path and body (JSON compared as data, not as spelling)."""
    raw = await request.body()
    try:
        body = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        body = raw
    return hashlib.sha256(f"{request.method} {request.url.path}\n".encode() + body).hexdigest()


async def idempotent(
    request: Request,
    principal: Principal,
    surface: Surface,
    raw_key: str | None,
    create: Callable[[], Awaitable[tuple[JSONResponse, int]]],
) -> Response:
    """The route's answer, run once per key: a retry gets the stored first answer."""
    key = parse_key(raw_key)

    async def run() -> Answer:
        response, job_id = await create()
        return Answer(response.status_code, bytes(response.body).decode(), job_id)

    asked = await fingerprint(request) if key is not None else ""
    answer, replayed = await create_once(principal, surface, key, asked, run)
    headers = {REPLAYED_HEADER: "true"} if replayed else None
    return Response(
        answer.body, status_code=answer.status_code, media_type="application/json", headers=headers
    )


REPLAY_HEADERS = {
    REPLAYED_HEADER: {
        "description": f"`true` when this is the stored answer to an earlier request with "
        f"the same {HEADER}",
        "schema": {"type": "string", "enum": ["true"]},
    }
}


def idempotency_responses(
    surface: str, *, conflict: dict[str, Any] | None = None
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI answers the key adds to a create: 409 (still processing), 422 (reused)."""
    out = error_responses(
        surface,
        409,
        422,
        described={
            409: f"A request with the same {HEADER} is still being processed",
            422: f"The {HEADER} was already used with a different request body",
        },
    )
    if conflict is not None:
        out[409] = conflict
    return out
