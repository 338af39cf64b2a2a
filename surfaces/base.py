"""What a surface is: one public API dialect over the one engine, declared as data.

A surface names its base path, how a caller sends a key, its error body, its words for
each phase of a job, its id style, its plan gate and how a relative date range becomes
its own request fields. Its report catalog is every report that declares the surface
(``catalog.registry``). The API, the submission service, the recurring flow and the CLI
read these declarations instead of asking ``if surface == ...``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from report_exports.errors import ForbiddenError, ValidationError
from report_exports.settings import Settings

if TYPE_CHECKING:
    from jobstore.models import ExportJob


class Phase(StrEnum):
    """Where a job is, whatever the surface calls it."""

    QUEUED = "queued"
    WORKING = "working"
    SUCCEEDED = "succeeded"
    EXPIRED = "expired"
    FAILURE = "failure"
    CANCEL = "cancel"


@dataclass(frozen=True)
class Status:
    """A job's status on one surface, and why it failed when it did."""

    value: str
    phase: Phase
    error: str | None = None

    @property
    def file_available(self) -> bool:
        """True when the file can be downloaded."""
        return self.phase == Phase.SUCCEEDED

    @property
    def finished(self) -> bool:
        """True once the job can no longer change by itself."""
        return self.phase not in (Phase.QUEUED, Phase.WORKING)


@dataclass(frozen=True)
class JobShown:
    """What a surface needs to show a job: the row, its status there, the account's project."""

    job: ExportJob
    status: Status
    project_id: str = ""
    progress: Mapping[str, Any] = field(default_factory=dict)
    """Rows done and estimated, stage and ETA now (``submission.progress``): the surfaces add
    them beside their documented progress fields."""


def iso(value: datetime | None) -> str | None:
    """``2025-12-31T10:00:00Z`` (seconds, UTC) or None."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _bare_job(shown: JobShown) -> dict[str, Any]:
    """A job's id, status and times, for a surface that declares no view of its own."""
    job = shown.job
    return {
        "id": job.id,
        "report_type": job.report_type,
        "format": job.format,
        "status": shown.status.value,
        "file_size_bytes": job.file_size_bytes,
        "created_at": iso(job.created_at),
        "completed_at": iso(job.completed_at),
    }


class AuthScheme(StrEnum):
    """How a caller sends its API key."""

    BEARER = "bearer"  # Authorization: Bearer <key>
    X_API_KEY = "x-api-key"  # X-Api-Key: <key>
    BEARER_OR_X_API_KEY = "bearer-or-x-api-key"


class IdStyle(StrEnum):
    """Which id of a job the surface shows: the integer id or the UUIDv7 public id."""

    INTEGER = "integer"
    UUID7 = "uuid7"


@dataclass(frozen=True)
class ErrorInfo:
    """An error to render: a machine code, a message and the request field at fault."""

    status: int
    code: str
    message: str
    field: str | None = None


@dataclass(frozen=True)
class PlanGate:
    """Which plans may export on a surface, and how long a date range each may ask for."""

    allowed_plans: frozenset[str]
    refused_message: str
    max_range_days: Mapping[str, int] = field(default_factory=dict)
    range_field: str = "to"

    def require(self, plan: str) -> None:
        """ForbiddenError unless the plan may export here."""
        if plan not in self.allowed_plans:
            raise ForbiddenError(self.refused_message)

    def check_range(self, plan: str, days: int | None) -> None:
        """ValidationError when the range is longer than the plan allows."""
        limit = self.max_range_days.get(plan)
        if days is not None and limit is not None and days > limit:
            raise ValidationError(
                f"Date range exceeds plan limit ({limit} days on the {plan.capitalize()} plan)",
                field=self.range_field,
            )


RangeKind = Literal["date", "datetime"]


@dataclass(frozen=True)
class DateRangeFields:
    """Where a surface's request carries a date range, and whether as dates or instants.

    ``container`` is the path of the object that holds the filters (empty: the body
    itself). Instants cover whole local days, both ends included to the second, as the
    webhook seed's inclusive ``end_time`` reads.
    """

    start: str
    end: str
    kind: RangeKind = "date"
    container: tuple[str, ...] = ()

    def fields(self, first: date, last: date, tz: ZoneInfo) -> dict[str, str]:
        """The two range fields for the local days ``first`` through ``last``."""
        if self.kind == "date":
            return {self.start: first.isoformat(), self.end: last.isoformat()}
        start = datetime.combine(first, time(0), tz)
        end = datetime.combine(last + timedelta(days=1), time(0), tz) - timedelta(seconds=1)
        return {self.start: _utc_text(start), self.end: _utc_text(end)}

    def apply(
        self, filters: dict[str, Any], first: date, last: date, tz: ZoneInfo
    ) -> dict[str, Any]:
        """A copy of a request body with the range fields set where the surface keeps them."""
        import copy

        body = copy.deepcopy(filters)
        _nested(body, self.container).update(self.fields(first, last, tz))
        return body


def _nested(body: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    target = body
    for name in path:
        target = target.setdefault(name, {})
    return target


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")


def _always(_settings: Settings) -> bool:
    return True


@dataclass(frozen=True)
class Surface:
    """One public API dialect: everything the rest of the project asks about it."""

    name: str
    title: str
    base_path: str
    auth: AuthScheme
    id_style: IdStyle
    status_words: Mapping[Phase, str]
    error_model: type[BaseModel]
    render_error: Callable[[ErrorInfo, str], dict[str, Any]]  # (error, request id) → body
    date_range: DateRangeFields
    plan_gate: PlanGate | None = None
    scopes_by_user: bool = False  # members see only their own jobs; admins the account's
    range_days: Callable[[dict[str, Any]], int | None] = lambda _params: None
    enabled: Callable[[Settings], bool] = _always
    disabled_message: str = "Not found"
    default_format: str | None = None  # when the surface's requests name none
    option_fields: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Where the CLI's surface options (``--env``, ``--sort``…) go in a request body."""
    description: str = ""
    show_job: Callable[[JobShown], dict[str, Any]] = _bare_job
    """The job as the surface's GET of one export shows it (its API and webhook payloads)."""

    def request_body(
        self,
        fields: dict[str, Any],
        *,
        filters: dict[str, Any],
        options: Mapping[str, Any],
        start: str | None,
        end: str | None,
    ) -> dict[str, Any]:
        """A request body from loose parts: top-level ``fields``, ``filters`` and the
        range where the surface keeps them, ``options`` where :attr:`option_fields` says.

        ValidationError names an option this surface does not take.
        """
        body = dict(fields)
        found = dict(filters)
        bounds = ((self.date_range.start, start), (self.date_range.end, end))
        found |= {name: value for name, value in bounds if value}
        if found:
            _nested(body, self.date_range.container).update(found)
        for option, value in options.items():
            if value is None:
                continue
            if option not in self.option_fields:
                raise ValidationError(
                    f"--{option.replace('_', '-')} does not apply to {self.title} reports",
                    field=option,
                )
            *container, name = self.option_fields[option]
            _nested(body, tuple(container))[name] = value
        return body

    def word(self, phase: Phase) -> str:
        """The surface's status word for a phase."""
        return self.status_words[phase]

    @property
    def statuses(self) -> tuple[str, ...]:
        """Every status word the surface uses, in phase order, without repeats."""
        return tuple(dict.fromkeys(self.status_words[p] for p in Phase))

    def detail_path(self, job_id: int, public_id: str) -> str:
        """The path of a job's detail on this surface (its own id style)."""
        shown = public_id if self.id_style == IdStyle.UUID7 else str(job_id)
        return f"{self.base_path.rstrip('/')}/{shown}"

    def owns(self, path: str) -> bool:
        """True when a request path belongs to this surface."""
        return path == self.base_path or path.startswith(self.base_path.rstrip("/") + "/")

    def admit(self, plan: str, params: dict[str, Any]) -> None:
        """The plan gate: may this plan export, and is the range within its limit."""
        if self.plan_gate is None:
            return
        self.plan_gate.require(plan)
        self.plan_gate.check_range(plan, self.range_days(params))
