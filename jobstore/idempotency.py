"""Idempotency keys of creates, settled by the database (the unique constraint of the table).

A request with a key inserts the key's row before it does anything else. Of any number of
concurrent requests with one key exactly one insert succeeds: that request runs the
create and stores its answer on the row; the others read the row and are told to replay
that answer, to wait (409), or that they reused the key with another request (422).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import ColumnElement, Engine, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jobstore.models import IdempotencyKey

LEASE = timedelta(seconds=60)
"""How long a claimed key without an answer counts as being processed. A create answers
within a second or two; a key whose process died is free again after this, not after 24 h."""


class Claim(StrEnum):
    """What a request holding an idempotency key is to do."""

    RUN = "run"  # this request holds the key: run the create, then store or release
    REPLAY = "replay"  # the key's answer is stored: send it again
    IN_PROGRESS = "in_progress"  # another request holds the key now
    MISMATCH = "mismatch"  # the key was used for another request


@dataclass(frozen=True)
class KeyScope:
    """Whose key it is: keys of one scope share answers, keys of two never meet."""

    account_id: int
    surface: str
    scope: str
    key: str


def _row(engine: Engine, scope: KeyScope) -> IdempotencyKey | None:
    with Session(engine, expire_on_commit=False) as session:
        return session.scalars(
            select(IdempotencyKey).where(
                IdempotencyKey.account_id == scope.account_id,
                IdempotencyKey.surface == scope.surface,
                IdempotencyKey.scope == scope.scope,
                IdempotencyKey.key == scope.key,
            )
        ).first()


def claim_key(
    engine: Engine, scope: KeyScope, fingerprint: str, now: datetime, lifetime: timedelta
) -> tuple[Claim, IdempotencyKey | None]:
    """Insert the key's row (RUN), or say what its existing row means for this request.

    An expired row is deleted and the insert tried again; an abandoned one (no answer, its
    lease over) is taken over by one guarded update, so again only one request runs.
    """
    for _ in range(5):
        row = IdempotencyKey(
            account_id=scope.account_id,
            surface=scope.surface,
            scope=scope.scope,
            key=scope.key,
            fingerprint=fingerprint,
            created_at=now,
            locked_until=now + LEASE,
            expires_at=now + lifetime,
        )
        try:
            with Session(engine, expire_on_commit=False) as session, session.begin():
                session.add(row)
            return Claim.RUN, row
        except IntegrityError:
            pass
        existing = _row(engine, scope)
        if existing is None:
            continue  # deleted in between: insert again
        if existing.expires_at <= now:
            _delete(engine, existing.id, IdempotencyKey.expires_at <= now)
            continue
        if existing.fingerprint != fingerprint:
            return Claim.MISMATCH, existing
        if existing.status_code is not None:
            return Claim.REPLAY, existing
        if existing.locked_until > now:
            return Claim.IN_PROGRESS, existing
        with engine.begin() as conn:
            taken = conn.execute(
                update(IdempotencyKey)
                .where(
                    IdempotencyKey.id == existing.id,
                    IdempotencyKey.status_code.is_(None),
                    IdempotencyKey.locked_until == existing.locked_until,
                )
                .values(locked_until=now + LEASE)
            ).rowcount
        if taken == 1:
            return Claim.RUN, existing
    return Claim.IN_PROGRESS, None


def store_answer(
    engine: Engine, row_id: int, status_code: int, body: str, job_id: int | None
) -> None:
    """Record the answer of the key's create, to be replayed until the key expires."""
    with Session(engine) as session, session.begin():
        session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.id == row_id, IdempotencyKey.status_code.is_(None))
            .values(status_code=status_code, response_body=body, job_id=job_id)
        )


def release_key(engine: Engine, row_id: int) -> None:
    """Free a key whose create failed (nothing is stored, so a retry runs it again)."""
    _delete(engine, row_id, IdempotencyKey.status_code.is_(None))


def _delete(engine: Engine, row_id: int, *guards: ColumnElement[bool]) -> None:
    with Session(engine) as session, session.begin():
        session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == row_id, *guards))


def forget_expired_keys(engine: Engine, now: datetime) -> int:
    """Delete keys past their lifetime; returns how many."""
    with engine.begin() as conn:
        stmt = delete(IdempotencyKey).where(IdempotencyKey.expires_at <= now)
        return int(conn.execute(stmt).rowcount)
