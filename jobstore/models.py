"""SQLAlchemy models of the job store."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    """Timezone-aware now in UTC (every timestamp we store is UTC)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of the job store."""


class JobState(StrEnum):
    """Lifecycle values of ``ExportJob.state`` (surface statuses are mapped from these)."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


TERMINAL_STATES = frozenset(
    {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.EXPIRED}
)


class LaunchMode(StrEnum):
    """Who starts a job's flow run."""

    DEPLOYMENT = "deployment"  # a launcher creates a run of the export-report deployment
    LOCAL = "local"  # the process that made the job runs the flow itself (the CLI)


class Stage(StrEnum):
    """What a running export is doing now (for progress and ETAs)."""

    PLANNING = "planning"
    EXTRACTING = "extracting"
    RENDERING = "rendering"
    PUBLISHING = "publishing"


Format = Literal["csv", "xlsx", "pdf"]
Role = Literal["admin", "member"]


class Account(Base):
    """A customer account: its plan gates exports, its project scopes webhook data."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    plan: Mapped[str] = mapped_column(String(16))
    project_id: Mapped[str] = mapped_column(String(40), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ApiKey(Base):
    """An API key, stored only as its SHA-256 (keys are long random tokens)."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(16))  # admin | member
    user_email: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ExportJob(Base):
    """One export request and everything known about its run and its file."""

    __tablename__ = "export_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True, index=True)
    surface: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[int] = mapped_column(Integer, index=True)
    requested_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    report_type: Mapped[str] = mapped_column(String(64))
    format: Mapped[str] = mapped_column(String(8))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    params_hash: Mapped[str] = mapped_column(String(64), index=True)
    # Set while the job may answer an identical request; unique, so the database (not a
    # check-then-insert) guarantees one job per identical in-flight request.
    dedupe_key: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    state: Mapped[str] = mapped_column(String(16), default=JobState.QUEUED, index=True)
    flow_run_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    # The outbox: a queued deployment job without a flow run is waiting for a launcher,
    # which leases it until ``launch_claimed_until`` (jobstore.store.claim_launches).
    launch_mode: Mapped[str] = mapped_column(
        String(16), default=LaunchMode.DEPLOYMENT, server_default=LaunchMode.DEPLOYMENT.value
    )
    launch_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    launch_claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    stage: Mapped[str | None] = mapped_column(String(16), nullable=True)
    rows_done: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    rows_estimated: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    progress_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    rows_reused: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    """Rows of chunks an earlier run of the job staged (a retry keeps them): not this run's rate."""
    schedule_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    runner: Mapped[str | None] = mapped_column(String(120), nullable=True)
    """``host:pid`` of the process running the job's flow run (for operators, chaos tests)."""
    parts_done: Mapped[int] = mapped_column(Integer, default=0)
    parts_total: Mapped[int | None] = mapped_column(Integer, nullable=True)
    row_count: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    file_size_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    filename: Mapped[str | None] = mapped_column(String(255), nullable=True)
    content_type: Mapped[str | None] = mapped_column(String(100), nullable=True)
    storage_key: Mapped[str | None] = mapped_column(String(500), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)  # clients see it
    error_detail: Mapped[str | None] = mapped_column(Text, nullable=True)  # operators only
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    @property
    def is_terminal(self) -> bool:
        """True once the job can no longer change state by itself."""
        return self.state in TERMINAL_STATES


class IdempotencyKey(Base):
    """A client's ``Idempotency-Key`` of a create, and the answer it got (to replay).

    Unique per account, surface and scope, so the database settles concurrent requests
    with one key: one insert wins and runs the create, the others read its row.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("account_id", "surface", "scope", "key", name="uq_idempotency_keys_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(Integer)
    surface: Mapped[str] = mapped_column(String(16))
    scope: Mapped[str] = mapped_column(String(210))
    """'' when the account's keys are shared; ``user:<user>`` for a member who sees only
    their own jobs (so a replay never answers with a job the caller could not read)."""
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the request (method, path, canonical JSON body)."""
    job_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response_body: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    locked_until: Mapped[datetime] = mapped_column(UTCDateTime())
    """While no answer is stored, the key is being processed until then (then abandoned)."""
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class ExportSchedule(Base):
    """A recurring export an account manages itself; Prefect holds its schedule.

    The row is the definition; ``prefect_schedule_id`` names the schedule of the
    ``recurring-export`` deployment that fires it (kept in step by
    ``submission.schedules.sync_schedules``). Jobs it makes carry its id.
    """

    __tablename__ = "schedules"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    name: Mapped[str | None] = mapped_column(String(120), nullable=True)
    surface: Mapped[str] = mapped_column(String(16))
    report_type: Mapped[str] = mapped_column(String(64))
    format: Mapped[str] = mapped_column(String(8))
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    range: Mapped[str] = mapped_column(String(16))
    cron: Mapped[str] = mapped_column(String(120))
    """The cron expression that fires it (a preset's expression too)."""
    preset: Mapped[str | None] = mapped_column(String(16), nullable=True)
    timezone: Mapped[str] = mapped_column(String(64))
    paused: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    prefect_schedule_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class WebhookEndpoint(Base):
    """A URL an account wants told when its exports end, with the secret that signs it.

    The secret is kept as is (it signs every delivery, like Stripe's ``whsec_``); after a
    rotation the previous one keeps signing until ``previous_secret_expires_at``.
    """

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    description: Mapped[str] = mapped_column(String(500), default="")
    secret: Mapped[str] = mapped_column(String(100))
    previous_secret: Mapped[str | None] = mapped_column(String(100), nullable=True)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), nullable=True
    )
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DeliveryState(StrEnum):
    """Where one webhook delivery is."""

    PENDING = "pending"  # due at next_attempt_at (first attempt or a retry)
    SUCCEEDED = "succeeded"  # the receiver answered 2xx
    FAILED = "failed"  # retried for the whole period, or its endpoint was disabled/removed


class WebhookDelivery(Base):
    """One event for one endpoint: the outbox row its attempts work through.

    Written in the transaction that ends the job, so no event is lost when a process dies;
    ``payload`` is rendered on the first attempt and every retry sends the same body.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    event_id: Mapped[str] = mapped_column(String(40), index=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id"), index=True)
    event: Mapped[str] = mapped_column(String(40))
    job_id: Mapped[int] = mapped_column(Integer, index=True)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    state: Mapped[str] = mapped_column(String(16), default=DeliveryState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    attempt_log: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    """Every attempt: at, status code (or None), error, milliseconds taken."""


class HousekeepingLease(Base):
    """Who runs a housekeeping pass (reconcile, cleanup) now, and until when at most.

    One pass at a time: a run that finds the lease held ends at once. Held in the job store
    rather than as a Prefect deployment concurrency limit, whose cancel-new path locked the
    embedded Prefect server's SQLite database for its whole 60 s busy timeout.
    """

    __tablename__ = "housekeeping_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    held_until: Mapped[datetime] = mapped_column(UTCDateTime())
