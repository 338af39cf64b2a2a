"""Webhook endpoints of an account and the outbox of their deliveries.

A job that reaches a terminal state gets one delivery row per enabled endpoint of its
account that asked for the event, written by :func:`enqueue_events` on the connection
of the transition itself (``jobstore.transitions``): the event exists exactly when the
state change does, whoever made it and whatever dies afterwards. Deliveries are then
worked through by the ``deliver-webhooks`` flow, which claims due rows with a lease (as
the launch outbox does), so concurrent runs never send one attempt twice at once.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.orm import Session

from jobstore.models import (
    DeliveryState,
    ExportJob,
    JobState,
    WebhookDelivery,
    WebhookEndpoint,
    utcnow,
)
from report_exports.errors import NotFoundError

EVENT_OF_STATE = {
    JobState.SUCCEEDED: "export.succeeded",
    JobState.FAILED: "export.failed",
    JobState.CANCELLED: "export.cancelled",
    JobState.EXPIRED: "export.expired",
}
EVENTS = tuple(EVENT_OF_STATE.values())
STATE_OF_EVENT = {event: state for state, event in EVENT_OF_STATE.items()}
ENDPOINT_NOT_FOUND = "Webhook endpoint not found"
ATTEMPT_LOG_KEPT = 50
"""Attempts kept in a delivery's log (the count in ``attempts`` is never cut)."""


def new_id(prefix: str) -> str:
    """A public id such as ``we_3f9c…`` (endpoint), ``evt_…`` or ``whd_…`` (delivery)."""
    return f"{prefix}_{uuid.uuid4().hex}"


def new_secret() -> str:
    """A signing secret: ``whsec_`` and 32 random bytes (the whole string is the HMAC key)."""
    return "whsec_" + secrets.token_urlsafe(32)


def create_endpoint(
    engine: Engine, account_id: int, *, url: str, events: Iterable[str], description: str = ""
) -> WebhookEndpoint:
    """A new enabled endpoint with a fresh secret (the caller checked URL and events)."""
    endpoint = WebhookEndpoint(
        public_id=new_id("we"),
        account_id=account_id,
        url=url,
        events=list(dict.fromkeys(events)),
        description=description,
        secret=new_secret(),
        enabled=True,
        created_at=utcnow(),
    )
    with Session(engine, expire_on_commit=False) as session, session.begin():
        session.add(endpoint)
    return endpoint


def list_endpoints(engine: Engine, account_id: int) -> list[WebhookEndpoint]:
    """The account's endpoints, oldest first."""
    stmt = (
        select(WebhookEndpoint)
        .where(WebhookEndpoint.account_id == account_id)
        .order_by(WebhookEndpoint.id)
    )
    with Session(engine, expire_on_commit=False) as session:
        return list(session.scalars(stmt))


def get_endpoint(engine: Engine, account_id: int, public_id: str) -> WebhookEndpoint:
    """One endpoint of the account (NotFoundError for another account's, too)."""
    stmt = select(WebhookEndpoint).where(
        WebhookEndpoint.account_id == account_id, WebhookEndpoint.public_id == public_id
    )
    with Session(engine, expire_on_commit=False) as session:
        found = session.scalars(stmt).first()
    if found is None:
        raise NotFoundError(ENDPOINT_NOT_FOUND)
    return found


def endpoint_by_id(engine: Engine, endpoint_id: int) -> WebhookEndpoint | None:
    """An endpoint by its row id (None once it was removed)."""
    with Session(engine, expire_on_commit=False) as session:
        return session.get(WebhookEndpoint, endpoint_id)


def remove_endpoint(engine: Engine, account_id: int, public_id: str) -> None:
    """Delete the endpoint and its delivery log; nothing is sent to it any more."""
    endpoint = get_endpoint(engine, account_id, public_id)
    with engine.begin() as conn:
        conn.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
        conn.execute(delete(WebhookEndpoint).where(WebhookEndpoint.id == endpoint.id))


def rotate_secret(
    engine: Engine, account_id: int, public_id: str, *, overlap: timedelta
) -> WebhookEndpoint:
    """A new secret; the current one keeps signing (as a second ``v1``) for ``overlap``."""
    endpoint = get_endpoint(engine, account_id, public_id)
    values: dict[str, Any] = {
        "secret": new_secret(),
        "previous_secret": endpoint.secret if overlap.total_seconds() > 0 else None,
        "previous_secret_expires_at": utcnow() + overlap if overlap.total_seconds() > 0 else None,
    }
    with engine.begin() as conn:
        conn.execute(
            update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint.id).values(**values)
        )
    return get_endpoint(engine, account_id, public_id)


def signing_secrets(endpoint: WebhookEndpoint, now: datetime | None = None) -> list[str]:
    """Every secret that signs a delivery now: the current one, and the previous one in overlap."""
    now = now or utcnow()
    found = [endpoint.secret]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and expires > now:
        found.append(endpoint.previous_secret)
    return found


def enqueue_events(conn: Connection, job_id: int, state: str) -> int:
    """In the caller's transaction: one pending delivery per endpoint that wants the event.

    Called by the guarded transition that made the job ``state``, on its connection, so the
    delivery rows commit (or roll back) with the state change. Returns how many were made.
    """
    event = EVENT_OF_STATE.get(JobState(state))
    if event is None:
        return 0
    account_id = conn.execute(
        select(ExportJob.account_id).where(ExportJob.id == job_id)
    ).scalar_one_or_none()
    if account_id is None:
        return 0
    endpoints = conn.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.events).where(
            WebhookEndpoint.account_id == account_id, WebhookEndpoint.enabled.is_(True)
        )
    ).all()
    wanted = [row.id for row in endpoints if event in (row.events or [])]
    if not wanted:
        return 0
    now, event_id = utcnow(), new_id("evt")
    conn.execute(
        insert(WebhookDelivery),
        [
            {
                "public_id": new_id("whd"),
                "event_id": event_id,
                "endpoint_id": endpoint_id,
                "event": event,
                "job_id": job_id,
                "state": DeliveryState.PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
                "attempt_log": [],
            }
            for endpoint_id in wanted
        ],
    )
    return len(wanted)


def claim_due(engine: Engine, *, lease: timedelta, limit: int = 100) -> list[WebhookDelivery]:
    """Pending deliveries whose attempt is due, each leased for ``lease`` to this caller.

    The lease moves ``next_attempt_at`` forward, guarded by the value read, so of two
    concurrent claimers only one gets a row; a claimer that dies lets the lease run out
    and the row becomes due again (at least once).
    """
    now = utcnow()
    stmt = (
        select(WebhookDelivery.id, WebhookDelivery.next_attempt_at)
        .where(
            WebhookDelivery.state == DeliveryState.PENDING,
            WebhookDelivery.next_attempt_at <= now,
        )
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(limit)
    )
    claimed: list[int] = []
    with engine.begin() as conn:
        candidates = conn.execute(stmt).all()
    for row in candidates:
        with engine.begin() as conn:
            won = conn.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.id == row.id,
                    WebhookDelivery.state == DeliveryState.PENDING,
                    WebhookDelivery.next_attempt_at == row.next_attempt_at,
                )
                .values(next_attempt_at=now + lease)
            ).rowcount
        if won == 1:
            claimed.append(row.id)
    if not claimed:
        return []
    with Session(engine, expire_on_commit=False) as session:
        rows = session.scalars(select(WebhookDelivery).where(WebhookDelivery.id.in_(claimed)))
        return sorted(rows, key=lambda d: d.id)


def next_due_at(engine: Engine) -> datetime | None:
    """When the earliest pending delivery is due (None when nothing is pending)."""
    stmt = select(WebhookDelivery.next_attempt_at).where(
        WebhookDelivery.state == DeliveryState.PENDING
    )
    with engine.connect() as conn:
        return conn.execute(stmt.order_by(WebhookDelivery.next_attempt_at).limit(1)).scalar()


def freeze_payload(engine: Engine, delivery_id: int, payload: dict[str, Any]) -> dict[str, Any]:
    """Keep the body of the first attempt for every retry (the first writer's wins)."""
    with engine.begin() as conn:
        conn.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id, WebhookDelivery.payload.is_(None))
            .values(payload=payload)
        )
        stored = conn.execute(
            select(WebhookDelivery.payload).where(WebhookDelivery.id == delivery_id)
        ).scalar()
    return stored if stored is not None else payload


@dataclass(frozen=True)
class Attempt:
    """What one attempt of a delivery got."""

    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        """A 2xx answer."""
        return self.status_code is not None and 200 <= self.status_code < 300

    def as_json(self) -> dict[str, Any]:
        """The entry of the delivery's attempt log."""
        return {
            "at": self.at.isoformat(),
            "status_code": self.status_code,
            "error": self.error,
            "duration_ms": self.duration_ms,
        }


def record_attempt(
    engine: Engine,
    delivery: WebhookDelivery,
    attempt: Attempt,
    *,
    next_attempt_at: datetime | None,
    give_up_reason: str | None = None,
) -> None:
    """Log an attempt: succeeded on 2xx, else due again at ``next_attempt_at`` or failed."""
    if attempt.ok:
        state, next_at = DeliveryState.SUCCEEDED, None
    elif next_attempt_at is None:
        state, next_at = DeliveryState.FAILED, None
    else:
        state, next_at = DeliveryState.PENDING, next_attempt_at
    error = attempt.error if give_up_reason is None else f"{attempt.error or ''} ({give_up_reason})"
    with engine.begin() as conn:
        log = conn.execute(
            select(WebhookDelivery.attempt_log).where(WebhookDelivery.id == delivery.id)
        ).scalar()
        conn.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == delivery.id, WebhookDelivery.state == DeliveryState.PENDING
            )
            .values(
                state=state,
                attempts=WebhookDelivery.attempts + 1,
                last_status_code=attempt.status_code,
                last_error=error.strip() if error else None,
                next_attempt_at=next_at,
                delivered_at=attempt.at if attempt.ok else None,
                attempt_log=[*(log or []), attempt.as_json()][-ATTEMPT_LOG_KEPT:],
            )
        )
        endpoint = update(WebhookEndpoint).where(WebhookEndpoint.id == delivery.endpoint_id)
        if attempt.ok:
            conn.execute(endpoint.values(failing_since=None))
        else:
            conn.execute(
                endpoint.where(WebhookEndpoint.failing_since.is_(None)).values(
                    failing_since=attempt.at
                )
            )


def disable_endpoint(engine: Engine, endpoint_id: int, reason: str) -> bool:
    """Stop delivering to an endpoint: it says why, and its pending deliveries fail."""
    now = utcnow()
    with engine.begin() as conn:
        changed = conn.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.enabled.is_(True))
            .values(enabled=False, disabled_at=now, disabled_reason=reason)
        ).rowcount
        conn.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.endpoint_id == endpoint_id,
                WebhookDelivery.state == DeliveryState.PENDING,
            )
            .values(state=DeliveryState.FAILED, next_attempt_at=None, last_error=reason)
        )
    return changed == 1


def enable_endpoint(engine: Engine, account_id: int, public_id: str) -> WebhookEndpoint:
    """Deliver to a disabled endpoint again (new events only)."""
    endpoint = get_endpoint(engine, account_id, public_id)
    with engine.begin() as conn:
        conn.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint.id)
            .values(enabled=True, disabled_at=None, disabled_reason=None, failing_since=None)
        )
    return get_endpoint(engine, account_id, public_id)


def deliveries_of(
    engine: Engine, account_id: int, public_id: str, *, limit: int = 50
) -> list[WebhookDelivery]:
    """The delivery log of one endpoint of the account, newest first."""
    endpoint = get_endpoint(engine, account_id, public_id)
    stmt = (
        select(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint.id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    )
    with Session(engine, expire_on_commit=False) as session:
        return list(session.scalars(stmt))
