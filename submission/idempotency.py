"""Creates that a client may retry safely: the ``Idempotency-Key`` of the IETF httpapi draft.

The first request with a key runs the create and its answer is stored with the key; the
same key with the same request within the key's lifetime gets that answer again, the same
key with another request is refused, and one that comes while the first is still running
is told to retry. The job store's unique constraint decides which request runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from anyio import CancelScope

from jobstore.accounts import Principal
from jobstore.idempotency import Claim, KeyScope, claim_key, release_key, store_answer
from jobstore.store import job_engine
from report_exports.errors import ConflictError, KeyReusedError
from report_exports.settings import get_settings
from submission.service import blocking
from surfaces.base import Surface

HEADER = "Idempotency-Key"
REUSED = f"{HEADER} was already used with a different request; use a new key"
IN_PROGRESS = f"A request with this {HEADER} is still being processed; retry shortly"


@dataclass(frozen=True)
class Answer:
    """What a create answered: replayed byte for byte to a retry with its key."""

    status_code: int
    body: str
    job_id: int | None = None


def key_scope(principal: Principal, surface: Surface) -> str:
    """Who shares keys: the account, except members of a surface that shows them only
    their own jobs (HiEnergy), who each have their own, so a replay never answers with a
    job the caller could not read."""
    if surface.scopes_by_user and not principal.is_admin:
        return f"user:{principal.user}"
    return ""


async def create_once(
    principal: Principal,
    surface: Surface,
    key: str | None,
    fingerprint: str,
    create: Callable[[], Awaitable[Answer]],
) -> tuple[Answer, bool]:
    """Run ``create`` once per key (and ``fingerprint``); returns (answer, replayed).

    Without a key the create just runs. If it raises, the key is released: nothing was
    promised, so a retry with the key runs the create again.
    """
    if key is None:
        return await create(), False
    engine = job_engine()
    scope = KeyScope(principal.account_id, surface.name, key_scope(principal, surface), key)
    lifetime = timedelta(hours=get_settings().idempotency_key_hours)
    claim, row = await blocking(claim_key, engine, scope, fingerprint, datetime.now(UTC), lifetime)
    if claim == Claim.MISMATCH:
        raise KeyReusedError(REUSED)
    if claim == Claim.IN_PROGRESS or row is None:
        raise ConflictError(IN_PROGRESS)
    if claim == Claim.REPLAY:
        assert row.status_code is not None and row.response_body is not None
        return Answer(row.status_code, row.response_body, row.job_id), True
    try:
        answer = await create()
    except BaseException:
        with CancelScope(shield=True):
            await blocking(release_key, engine, row.id)
        raise
    with CancelScope(shield=True):
        await blocking(store_answer, engine, row.id, answer.status_code, answer.body, answer.job_id)
    return answer, False
