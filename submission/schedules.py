"""Recurring exports an account manages itself: validate, store, keep Prefect in step.

The API (``/account/v1/schedules``) and the CLI (``report-exports schedules``) both come
here. The job store holds each schedule's definition; Prefect holds a schedule of the
``recurring-export`` deployment that fires it (``submission.prefect_schedules``).

Nothing is left half-made: Prefect is written first, then the job store; if the store
write fails, the Prefect change is undone. Whatever an undo could not reach (Prefect or
the store down twice in a row) :func:`sync_schedules` puts right: it makes Prefect match
the store (``report-exports up`` and ``deploy`` run it, and every reconcile pass). A run
that fires for a schedule the store no longer has, or has paused, makes no job
(``flows.recurring_export``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from catalog.cadence import DEFAULT_AT, check_cron, check_timezone, fire_times, preset_cron
from catalog.cadence import preset_of as cadence_preset_of
from catalog.relative_ranges import LONGEST_DAYS, RELATIVE_RANGES, period
from jobstore.accounts import Principal
from jobstore.models import ExportSchedule
from jobstore.schedules import (
    account_schedules,
    all_schedules,
    count_schedules,
    delete_schedule,
    get_schedule,
    insert_schedule,
    record_prefect_id,
    update_schedule,
)
from jobstore.store import job_engine, uuid7
from report_exports.errors import NotFoundError, ServiceUnavailableError, ValidationError
from report_exports.settings import get_settings
from submission import prefect_schedules
from submission.launcher import LaunchError
from submission.service import blocking, check_request
from surfaces.ranges import range_params
from surfaces.registry import get_surface

logger = logging.getLogger(__name__)

SCHEDULE_NOT_FOUND = "Schedule not found"
ORPHAN_GRACE = timedelta(seconds=60)
"""A Prefect schedule without a row is deleted by the sync only when older than this: a
create writes Prefect just before the store."""


@dataclass(frozen=True)
class Definition:
    """What an account asks for: the export, its relative range, and when."""

    surface: str
    report_type: str
    range: str
    timezone: str = "UTC"
    format: str | None = None
    filters: dict[str, Any] = field(default_factory=dict)
    cron: str | None = None
    preset: str | None = None
    at: str | None = None
    name: str | None = None
    paused: bool = False


@dataclass(frozen=True)
class ScheduleView:
    """A stored schedule and its next fire times (none while paused)."""

    schedule: ExportSchedule
    next_runs: list[datetime]

    @property
    def at(self) -> str | None:
        """A preset's local time of day."""
        found = cadence_preset_of(self.schedule.cron) if self.schedule.preset else None
        return found[1] if found else None


def _named(exc: ValidationError, name: str, inner: str | None = None) -> ValidationError:
    """The error with ``name`` as its field, and named in its message."""
    message = exc.message
    if inner and inner in message:
        message = message.replace(inner, name, 1)
    elif name not in message:
        message = f"{name}: {message}"
    return ValidationError(message, field=name)


def validate(principal: Principal, wanted: Definition) -> dict[str, Any]:
    """The schedule's stored columns, or the first error, its field named in the message."""
    try:
        return _validate(principal, wanted)
    except ValidationError as exc:
        raise _named(exc, exc.field) if exc.field else exc from None


def _validate(principal: Principal, wanted: Definition) -> dict[str, Any]:
    """The schedule's stored columns, or the first error with its field.

    The export is checked as the surface would check it on a sample period of the
    range (report, format, filters, plan gate); a plan's range limit against the longest
    period the range can cover.
    """
    surface = get_surface(wanted.surface)
    if wanted.range not in RELATIVE_RANGES:
        raise ValidationError(
            f"Invalid range {wanted.range!r}. Must be one of: {', '.join(RELATIVE_RANGES)}",
            field="range",
        )
    tz = check_timezone(wanted.timezone)
    if (wanted.cron is None) == (wanted.preset is None):
        raise ValidationError("Give either cron or preset (daily, weekly, monthly)", "cron")
    if wanted.cron is not None and wanted.at is not None:
        raise ValidationError("at goes with a preset; a cron expression says the time", "at")
    cron = (
        check_cron(wanted.cron)
        if wanted.cron is not None
        else preset_cron(wanted.preset or "", wanted.at or DEFAULT_AT)
    )
    if not isinstance(wanted.filters, dict):
        raise ValidationError("filters must be an object", field="filters")
    carried = surface.date_range
    holder: Any = wanted.filters
    for name in carried.container:
        holder = holder.get(name, {}) if isinstance(holder, dict) else {}
    for name in (carried.start, carried.end):
        if isinstance(holder, dict) and name in holder:
            path = ".".join(("filters", *carried.container, name))
            raise ValidationError(f"{path} is set by the range on each run", field=path)
    if surface.plan_gate is not None:
        surface.plan_gate.require(principal.plan)
        longest = LONGEST_DAYS[wanted.range]
        try:
            surface.plan_gate.check_range(principal.plan, longest)
        except ValidationError as exc:
            message = f"range: {wanted.range} covers up to {longest} days. {exc.message}"
            raise ValidationError(message, field="range") from None
    first, last = period(wanted.range, datetime.now(UTC), tz)
    sample = range_params(surface.name, first, last, tz, wanted.filters)
    try:
        request = check_request(principal, surface, wanted.report_type, wanted.format, sample)
    except ValidationError as exc:
        if exc.field in ("report_type", "format"):
            raise _named(exc, exc.field) from None
        if exc.field and exc.field.split(".")[-1] in (carried.start, carried.end):
            if exc.message.startswith("Unknown filter"):
                raise ValidationError(
                    f"range: {wanted.report_type} takes no date range to fill", field="range"
                ) from None
            raise _named(exc, "range") from None
        raise _named(exc, f"filters.{exc.field}" if exc.field else "filters", exc.field) from None
    if wanted.name is not None and len(wanted.name) > 120:
        raise ValidationError("name: at most 120 characters", field="name")
    return {
        "name": wanted.name,
        "surface": surface.name,
        "report_type": wanted.report_type,
        "format": request.format,
        "filters": wanted.filters,
        "range": wanted.range,
        "cron": cron,
        "preset": wanted.preset if wanted.cron is None else None,
        "timezone": wanted.timezone,
        "paused": wanted.paused,
    }


def _wanted(schedule: ExportSchedule, account_name: str) -> prefect_schedules.Wanted:
    return prefect_schedules.Wanted(
        slug=prefect_schedules.slug_for(schedule.id),
        cron=schedule.cron,
        timezone=schedule.timezone,
        active=not schedule.paused,
        parameters={
            "account": account_name,
            "surface": schedule.surface,
            "report_type": schedule.report_type,
            "format": schedule.format,
            "range": schedule.range,
            "timezone": schedule.timezone,
            "filters": schedule.filters,
            "schedule_id": schedule.id,
        },
    )


def view(schedule: ExportSchedule, now: datetime | None = None) -> ScheduleView:
    """The schedule with its next three fire times."""
    if schedule.paused:
        return ScheduleView(schedule, [])
    return ScheduleView(
        schedule, fire_times(schedule.cron, schedule.timezone, now or datetime.now(UTC))
    )


def _unavailable(exc: LaunchError) -> ServiceUnavailableError:
    logger.warning("schedule change refused: Prefect unreachable: %s", exc)
    return ServiceUnavailableError("the scheduler cannot be reached")


async def create_schedule(principal: Principal, wanted: Definition) -> ScheduleView:
    """Validate, create the Prefect schedule, then store the row (undoing Prefect if not)."""
    values = validate(principal, wanted)
    engine, limit = job_engine(), get_settings().schedules_per_account
    if await blocking(count_schedules, engine, principal.account_id) >= limit:
        raise ValidationError(f"An account may have at most {limit} schedules", field="schedule")
    row = ExportSchedule(
        id=uuid7(), account_id=principal.account_id, created_by=principal.user, **values
    )
    try:
        row.prefect_schedule_id = await prefect_schedules.create(
            _wanted(row, principal.account_name)
        )
    except LaunchError as exc:
        raise _unavailable(exc) from exc
    try:
        stored = await blocking(insert_schedule, engine, row)
    except BaseException:
        await _undo(prefect_schedules.delete(row.prefect_schedule_id), row.id)
        raise
    return view(stored)


async def _undo(undo: Any, schedule_id: str) -> None:
    try:
        await undo
    except LaunchError as exc:  # the sync puts Prefect back in step with the store
        logger.warning("schedule %s: Prefect not undone (the sync will): %s", schedule_id, exc)


def _find(principal: Principal, schedule_id: str) -> ExportSchedule:
    schedule = get_schedule(job_engine(), schedule_id) if len(schedule_id) <= 36 else None
    if schedule is None or schedule.account_id != principal.account_id:
        raise NotFoundError(SCHEDULE_NOT_FOUND)
    return schedule


async def get_schedule_view(principal: Principal, schedule_id: str) -> ScheduleView:
    """One of the caller's schedules (another account's is not found)."""
    return view(await blocking(_find, principal, schedule_id))


async def list_schedules(principal: Principal) -> list[ScheduleView]:
    """The caller's schedules, oldest first."""
    now = datetime.now(UTC)
    rows = await blocking(account_schedules, job_engine(), principal.account_id)
    return [view(row, now) for row in rows]


def definition_of(schedule: ExportSchedule) -> Definition:
    """A stored schedule as the definition it was made from."""
    preset_at = cadence_preset_of(schedule.cron) if schedule.preset else None
    return Definition(
        surface=schedule.surface,
        report_type=schedule.report_type,
        range=schedule.range,
        timezone=schedule.timezone,
        format=schedule.format,
        filters=schedule.filters,
        cron=None if preset_at else schedule.cron,
        preset=schedule.preset if preset_at else None,
        at=preset_at[1] if preset_at else None,
        name=schedule.name,
        paused=schedule.paused,
    )


def _merged(current: Definition, changes: dict[str, Any]) -> Definition:
    changes = dict(changes)
    if "cron" in changes and changes["cron"] is not None:
        changes.setdefault("preset", None)
        changes.setdefault("at", None)
    if changes.get("preset") is not None or changes.get("at") is not None:
        changes.setdefault("cron", None)
    if "surface" in changes and "format" not in changes:
        changes["format"] = None  # the new surface's report decides its default
    return replace(current, **changes)


async def edit_schedule(
    principal: Principal, schedule_id: str, changes: dict[str, Any]
) -> ScheduleView:
    """Change a schedule (any definition field, paused too): Prefect first, then the row."""
    current = await blocking(_find, principal, schedule_id)
    values = validate(principal, _merged(definition_of(current), changes))
    edited = ExportSchedule(
        id=current.id,
        account_id=current.account_id,
        prefect_schedule_id=current.prefect_schedule_id,
        **values,
    )
    try:
        prefect_id = await _put(edited, principal.account_name)
    except LaunchError as exc:
        raise _unavailable(exc) from exc
    try:
        found = await blocking(
            update_schedule,
            job_engine(),
            current.id,
            {**values, "prefect_schedule_id": prefect_id},
        )
    except BaseException:
        await _undo(_put(current, principal.account_name), current.id)
        raise
    if not found:  # deleted meanwhile: the Prefect schedule goes too
        await _undo(prefect_schedules.delete(prefect_id), current.id)
        raise NotFoundError(SCHEDULE_NOT_FOUND)
    return await get_schedule_view(principal, schedule_id)


async def _put(schedule: ExportSchedule, account_name: str) -> str:
    """Make Prefect hold ``schedule`` (recreating it if it was deleted there)."""
    wanted = _wanted(schedule, account_name)
    if schedule.prefect_schedule_id and await prefect_schedules.update(
        schedule.prefect_schedule_id, wanted
    ):
        return schedule.prefect_schedule_id
    return await prefect_schedules.create(wanted)


async def set_paused(principal: Principal, schedule_id: str, paused: bool) -> ScheduleView:
    """Pause (no new runs; Prefect drops the scheduled ones) or resume a schedule."""
    return await edit_schedule(principal, schedule_id, {"paused": paused})


async def remove_schedule(principal: Principal, schedule_id: str) -> None:
    """Delete the Prefect schedule, then the row (its jobs stay, with its id)."""
    current = await blocking(_find, principal, schedule_id)
    try:
        gone = bool(current.prefect_schedule_id) and await prefect_schedules.delete(
            current.prefect_schedule_id or ""
        )
        if not gone:  # never recorded, or made again by a sync under another id
            slug = prefect_schedules.slug_for(current.id)
            for held in await prefect_schedules.read_held():
                if held.slug == slug:
                    await prefect_schedules.delete(held.id)
    except LaunchError as exc:
        raise _unavailable(exc) from exc
    try:
        await blocking(delete_schedule, job_engine(), current.id)
    except BaseException:
        await _undo(_put(current, principal.account_name), current.id)
        raise


@dataclass
class SyncReport:
    """What one sync changed in Prefect (schedule ids; Prefect slugs for deletions)."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """True when Prefect was out of step."""
        return bool(self.created or self.updated or self.deleted)


async def sync_schedules(now: datetime | None = None) -> SyncReport:
    """Make Prefect hold exactly the stored schedules (LaunchError if it cannot be read).

    Missing ones (deleted in the UI, a fresh Prefect database) are created, changed ones
    put back, and account schedules with no row (a half-made create, a deleted row)
    deleted once older than :data:`ORPHAN_GRACE`.
    """
    now = now or datetime.now(UTC)
    engine, report = job_engine(), SyncReport()
    rows = await blocking(all_schedules, engine)
    held = {h.slug: h for h in await prefect_schedules.read_held()}
    for row, account_name in rows:
        wanted = _wanted(row, account_name)
        found = held.pop(wanted.slug, None)
        prefect_id = found.id if found else None
        if found is None:
            prefect_id = await prefect_schedules.create(wanted, refill_now=False)
            report.created.append(row.id)
        elif not found.matches(wanted):
            await prefect_schedules.update(found.id, wanted, refill_now=False)
            report.updated.append(row.id)
        if prefect_id and row.prefect_schedule_id != prefect_id:
            await blocking(record_prefect_id, engine, row.id, prefect_id)
    for orphan in held.values():
        if orphan.created is None or now - orphan.created >= ORPHAN_GRACE:
            await prefect_schedules.delete(orphan.id, refill_now=False)
            report.deleted.append(orphan.slug or orphan.id)
    if report.changed:
        await prefect_schedules.refill()
        logger.info("schedules synced with Prefect: %s", report)
    return report


def stored_definition(schedule_id: str) -> ExportSchedule | None:
    """The stored schedule a run fires for (None once deleted)."""
    return get_schedule(job_engine(), schedule_id)
