"""Webhooks of an account: endpoints it registers, and each delivery's attempts.

- :func:`check_target` is the SSRF rule, applied when an endpoint is registered and again
  before every attempt (DNS may have changed): ``https://`` only (``http://`` to a
  loopback host when ``webhook_allow_http_loopback``), no credentials in the URL, and
  every address the host resolves to must be public (private, loopback, link-local,
  metadata, multicast and reserved ranges are refused unless
  ``webhook_allow_private_targets``). The attempt then connects to the checked address
  itself (TLS still verifies the host's name), so a second lookup cannot point it
  elsewhere, and redirects are never followed.
- :func:`sign` signs as Stripe does: ``t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">``,
  one ``v1`` per secret that is valid now (two during a rotation's overlap).
- :func:`attempt` makes one attempt of one delivery and logs it on the row; the
  ``deliver-webhooks`` flow runs it for every due delivery, and Prefect schedules that
  flow again when the next retry is due (exponential backoff with jitter, up to
  ``webhook_retry_for_seconds``). An endpoint whose deliveries all failed for
  ``webhook_disable_after_seconds`` is disabled with the reason.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import random
import socket
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from jobstore.models import (
    Account,
    DeliveryState,
    JobState,
    WebhookDelivery,
    WebhookEndpoint,
    utcnow,
)
from jobstore.store import get_job
from jobstore.webhooks import (
    EVENTS,
    STATE_OF_EVENT,
    Attempt,
    create_endpoint,
    disable_endpoint,
    endpoint_by_id,
    freeze_payload,
    next_due_at,
    record_attempt,
    signing_secrets,
)
from report_exports.errors import ValidationError
from report_exports.settings import Settings, get_settings
from submission.launcher import schedule_webhook_delivery
from submission.progress import job_progress
from submission.status import surface_status
from surfaces.base import JobShown, iso
from surfaces.registry import get_surface

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "Report-Exports-Signature"
DELIVERY_HEADER = "Report-Exports-Delivery"
EVENT_HEADER = "Report-Exports-Event"
USER_AGENT = "ReportExports-Webhooks/1.0"
MAX_URL_CHARS = 2048
MAX_DESCRIPTION_CHARS = 500
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data"})
ERROR_CHARS = 300
GAVE_UP = "given up: retried for the whole period"


class TargetRefused(ValidationError):
    """The URL may not receive webhooks (scheme, credentials, or where it resolves)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="url")


def check_events(events: list[str]) -> list[str]:
    """The events, each one we send (ValidationError naming the unknown one)."""
    if not events:
        raise ValidationError(f"events must name at least one of: {', '.join(EVENTS)}", "events")
    for event in events:
        if event not in EVENTS:
            raise ValidationError(
                f"Unknown event {event[:60]!r} in events. Must be one of: {', '.join(EVENTS)}",
                field="events",
            )
    return list(dict.fromkeys(events))


@dataclass(frozen=True)
class Target:
    """A checked webhook URL and the address an attempt connects to."""

    url: str
    host: str
    port: int
    address: str

    @property
    def pinned_url(self) -> str:
        """The URL with its host replaced by the checked address (the Host header keeps it)."""
        parts = urlsplit(self.url)
        ip = ipaddress.ip_address(self.address)
        host = f"[{self.address}]" if ip.version == 6 else self.address
        return urlunsplit((parts.scheme, f"{host}:{self.port}", parts.path or "/", parts.query, ""))

    @property
    def host_header(self) -> str:
        """``host`` or ``host:port`` as the URL named it."""
        netloc = urlsplit(self.url).netloc
        return netloc.rsplit("@", 1)[-1]


def _is_loopback_name(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost" or host.endswith(".localhost")


def _address_allowed(address: str, settings: Settings) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if settings.webhook_allow_private_targets:
        return not ip.is_unspecified and not ip.is_multicast
    if ip.is_loopback:
        return settings.webhook_allow_http_loopback
    return ip.is_global and not ip.is_multicast


def check_target(url: str, settings: Settings | None = None) -> Target:
    """The checked target of a webhook URL, or TargetRefused saying why (no SSRF)."""
    settings = settings or get_settings()
    if len(url) > MAX_URL_CHARS:
        raise TargetRefused(f"url must be at most {MAX_URL_CHARS} characters")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise TargetRefused("url is not a valid URL") from None
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http") or not host:
        raise TargetRefused("url must be an absolute https:// URL")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("url must not carry credentials")
    if parts.fragment:
        raise TargetRefused("url must not have a #fragment")
    loopback = _is_loopback_name(host)
    if parts.scheme == "http" and not (loopback and settings.webhook_allow_http_loopback):
        raise TargetRefused("url must use https://")
    if host in METADATA_HOSTS and not settings.webhook_allow_private_targets:
        raise TargetRefused("url points at a metadata service")
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise TargetRefused("url's host could not be resolved") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise TargetRefused("url's host could not be resolved")
    if not all(_address_allowed(a, settings) for a in addresses):
        raise TargetRefused("url resolves to a private, loopback, link-local or metadata address")
    return Target(url=url.strip(), host=host, port=port, address=addresses[0])


def register(
    engine: Engine, account_id: int, *, url: str, events: list[str], description: str = ""
) -> WebhookEndpoint:
    """Check URL, events and description, then create the endpoint (its secret is new)."""
    if len(description) > MAX_DESCRIPTION_CHARS:
        raise ValidationError(
            f"description must be at most {MAX_DESCRIPTION_CHARS} characters", "description"
        )
    checked_events = check_events(events)
    target = check_target(url)
    return create_endpoint(
        engine, account_id, url=target.url, events=checked_events, description=description
    )


def sign(body: bytes, secrets: list[str], timestamp: int) -> str:
    """``t=<timestamp>,v1=<hex>[,v1=<hex>]``: HMAC-SHA256 of ``"<t>." + body`` per secret."""
    signed = f"{timestamp}.".encode() + body
    marks = [hmac.new(s.encode(), signed, hashlib.sha256).hexdigest() for s in secrets]
    return ",".join([f"t={timestamp}", *(f"v1={mark}" for mark in marks)])


def render_event(engine: Engine, delivery: WebhookDelivery) -> dict[str, Any]:
    """The event body: its id, type and time, the surface's name and the job as it shows it.

    The job is shown as the event left it (a later expiry does not rewrite a
    ``export.succeeded``); rendered once, at the first attempt, and kept for retries.
    """
    job = get_job(engine, delivery.job_id)
    surface = get_surface(job.surface)
    state = STATE_OF_EVENT[delivery.event]
    file_present = state == JobState.SUCCEEDED and job.storage_key is not None
    status = surface_status(
        surface, state, None, file_present=file_present, error_message=job.error_message
    )
    with Session(engine) as session:
        project_id = session.scalar(select(Account.project_id).where(Account.id == job.account_id))
    progress = job_progress(job, datetime.now(UTC), working=False).as_json()  # it has ended
    return {
        "id": delivery.event_id,
        "type": delivery.event,
        "created_at": iso(delivery.created_at),
        "surface": surface.name,
        "data": {"export": surface.show_job(JobShown(job, status, project_id or "", progress))},
    }


def retry_delay(attempts: int, settings: Settings) -> timedelta:
    """Exponential backoff with jitter after ``attempts`` failed attempts (capped)."""
    base = settings.webhook_retry_base_seconds * 2 ** max(attempts - 1, 0)
    capped = min(base, settings.webhook_retry_max_delay_seconds)
    return timedelta(seconds=capped * random.uniform(0.5, 1.0))


@lru_cache(maxsize=1)
def _tls() -> ssl.SSLContext:
    """One verifying TLS context per process (making one costs tenths of a second)."""
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def _post(target: Target, body: bytes, headers: dict[str, str], timeout: float) -> int:
    import httpx

    extensions = {"sni_hostname": target.host} if target.url.startswith("https:") else {}
    with httpx.Client(
        follow_redirects=False, timeout=httpx.Timeout(timeout), trust_env=False, verify=_tls()
    ) as client:
        request = client.build_request(
            "POST",
            target.pinned_url,
            content=body,
            headers={**headers, "Host": target.host_header},
            extensions=extensions,
        )
        response = client.send(request, stream=True)  # the receiver's body is not read
        response.close()
        return response.status_code


def attempt(engine: Engine, delivery: WebhookDelivery) -> Attempt:
    """One attempt of a claimed delivery, logged on its row; retried later when it failed."""
    settings = get_settings()
    endpoint = endpoint_by_id(engine, delivery.endpoint_id)
    started, clock = utcnow(), time.monotonic()
    status_code: int | None = None
    error: str | None = None
    if endpoint is None or not endpoint.enabled:
        return _give_up(engine, delivery, started, "the endpoint was disabled or removed")
    try:
        payload = delivery.payload or freeze_payload(
            engine, delivery.id, render_event(engine, delivery)
        )
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        target = check_target(endpoint.url, settings)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: sign(body, signing_secrets(endpoint), int(time.time())),
            DELIVERY_HEADER: delivery.public_id,
            EVENT_HEADER: delivery.event,
        }
        status_code = _post(target, body, headers, settings.webhook_timeout_seconds)
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}" + (
                " (redirects are not followed)" if 300 <= status_code < 400 else ""
            )
    except TargetRefused as exc:
        error = f"refused: {exc}"
    except Exception as exc:  # timeout, refused connection, TLS, storage: all retried
        error = f"{type(exc).__name__}: {exc}"[:ERROR_CHARS]
    result = Attempt(started, status_code, error, int((time.monotonic() - clock) * 1000))
    _record(engine, delivery, endpoint, result, settings)
    return result


def _give_up(engine: Engine, delivery: WebhookDelivery, at: datetime, reason: str) -> Attempt:
    result = Attempt(at, None, reason, 0)
    record_attempt(engine, delivery, result, next_attempt_at=None)
    return result


def _record(
    engine: Engine,
    delivery: WebhookDelivery,
    endpoint: WebhookEndpoint,
    result: Attempt,
    settings: Settings,
) -> None:
    if result.ok:
        record_attempt(engine, delivery, result, next_attempt_at=None)
        return
    next_at = result.at + retry_delay(delivery.attempts + 1, settings)
    deadline = delivery.created_at + timedelta(seconds=settings.webhook_retry_for_seconds)
    if next_at > deadline:
        record_attempt(
            engine,
            delivery,
            result,
            next_attempt_at=None,
            give_up_reason="given up: retried for the whole period",
        )
    else:
        record_attempt(engine, delivery, result, next_attempt_at=next_at)
    failing_since = endpoint.failing_since or result.at
    if result.at - failing_since >= timedelta(seconds=settings.webhook_disable_after_seconds):
        reason = (
            f"disabled: every delivery failed since {iso(failing_since)} "
            f"(last: {result.error or 'no answer'})"
        )
        if disable_endpoint(engine, endpoint.id, reason):
            logger.warning("webhook endpoint %s %s", endpoint.public_id, reason)


def delivery_json(delivery: WebhookDelivery) -> dict[str, Any]:
    """A delivery of the log, as the API and the CLI show it."""
    return {
        "id": delivery.public_id,
        "event_id": delivery.event_id,
        "event": delivery.event,
        "export_job_id": delivery.job_id,
        "state": delivery.state,
        "attempts": delivery.attempts,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "next_attempt_at": iso(delivery.next_attempt_at)
        if delivery.state == DeliveryState.PENDING
        else None,
        "created_at": iso(delivery.created_at),
        "delivered_at": iso(delivery.delivered_at),
        "attempt_log": list(delivery.attempt_log or []),
    }


def endpoint_json(endpoint: WebhookEndpoint, *, with_secret: bool = False) -> dict[str, Any]:
    """An endpoint as the API and the CLI show it (the secret only when just made)."""
    out: dict[str, Any] = {
        "id": endpoint.public_id,
        "url": endpoint.url,
        "events": list(endpoint.events),
        "description": endpoint.description,
        "enabled": endpoint.enabled,
        "disabled_at": iso(endpoint.disabled_at),
        "disabled_reason": endpoint.disabled_reason,
        "failing_since": iso(endpoint.failing_since),
        "previous_secret_expires_at": iso(endpoint.previous_secret_expires_at)
        if endpoint.previous_secret
        else None,
        "created_at": iso(endpoint.created_at),
    }
    if with_secret:
        out["secret"] = endpoint.secret
    return out


def announce(engine: Engine) -> bool:
    """Have ``deliver-webhooks`` run now if a delivery is due (one indexed read otherwise).

    At most one such run per second (its idempotency key); a delivery that arrives after
    that run looked is found when the run checks again at its end, or by the sweep.
    """
    try:
        due = next_due_at(engine)
    except Exception as exc:  # the job store hiccuped: the sweep delivers
        logger.warning("pending webhook deliveries not read: %s", exc)
        return False
    if due is None or due > utcnow() + timedelta(seconds=1):
        return False
    return schedule_webhook_delivery(f"now-{int(time.time())}")


def schedule_next(engine: Engine) -> datetime | None:
    """Have ``deliver-webhooks`` run when the next pending delivery is due; when that is."""
    due = next_due_at(engine)
    if due is None:
        return None
    due = max(due, utcnow())
    schedule_webhook_delivery(f"at-{int(due.timestamp() * 1000)}", due)
    return due
