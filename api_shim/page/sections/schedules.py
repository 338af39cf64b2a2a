"""Schedules (admins only): the account's recurring exports, made, paused, resumed, deleted.

Every change goes through ``submission.schedules`` as the API's does (never over HTTP);
its validation errors are shown beside the field they name. Members get the 404 page and
no navigation link.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from api_shim.page.deps import PREFIX, Visitor, VisitorDep, checked_form, page_surfaces, render
from api_shim.page.forms import (
    FieldGroup,
    all_fields,
    form_of,
    input_value,
    placed_errors,
    request_params,
)
from catalog.base import ReportSpec
from catalog.cadence import DEFAULT_AT, PRESETS
from catalog.registry import CATALOGS
from catalog.relative_ranges import RELATIVE_RANGES
from report_exports.errors import NotFoundError, ServiceUnavailableError, ValidationError
from submission.schedules import (
    Definition,
    ScheduleView,
    create_schedule,
    list_schedules,
    remove_schedule,
    set_paused,
)
from surfaces.registry import get_surface

router = APIRouter()
NAV = ("Schedules", "/schedules")
ADMIN_ONLY = True
"""Only admins see the link (``api_shim.page.app``)."""

TOP = ""
CUSTOM = "cron"
"""The "when" choice that takes a cron expression instead of a preset."""
WHEN_LABELS = {
    "daily": "Daily",
    "weekly": "Weekly (Mondays)",
    "monthly": "Monthly (the 1st)",
    CUSTOM: "Cron expression",
}
RANGE_LABELS = {
    "previous-day": "Previous day",
    "previous-week": "Previous week (Monday to Sunday)",
    "previous-month": "Previous month",
    "last-7-days": "Last 7 days",
    "last-30-days": "Last 30 days",
    "month-to-date": "Month to date",
}
OWN_FIELDS = ("name", "format", "range", "when", "at", "cron", "timezone")
NOTICES = {
    "created": "The schedule was created.",
    "paused": "The schedule was paused.",
    "resumed": "The schedule was resumed.",
    "deleted": "The schedule was deleted.",
}
UNKNOWN_REPORT = "Choose a report from the list."
UNAVAILABLE = "The scheduler cannot be reached just now. Try again shortly."


def _admin(who: Visitor) -> None:
    """Members see the 404 page: the section is not theirs."""
    if not who.principal.is_admin:
        raise NotFoundError("not an admin")


def _reports() -> list[tuple[Any, list[ReportSpec]]]:
    return [(get_surface(n), list(CATALOGS.get(n, {}).values())) for n in page_surfaces()]


def _report(key: str) -> ReportSpec | None:
    """A report by ``surface:name`` (or its bare name)."""
    surface, _, name = key.rpartition(":")
    for found_surface, reports in _reports():
        for report in reports:
            if report.name == name and surface in ("", found_surface.name):
                return report
    return None


def _filter_groups(report: ReportSpec) -> list[FieldGroup]:
    """The report's form without the date range, which each run fills."""
    carried = get_surface(report.surface).date_range
    dates = {".".join((*carried.container, n)) for n in (carried.start, carried.end)}
    groups = [
        FieldGroup(g.legend, tuple(f for f in g.fields if f.name not in dates))
        for g in form_of(report)
    ]
    return [g for g in groups if g.fields]


def _when_text(found: ScheduleView) -> str:
    row = found.schedule
    if row.preset and found.at:
        return f"{WHEN_LABELS.get(row.preset, row.preset)} at {found.at}"
    return f"cron {row.cron}"


def _next_text(found: ScheduleView) -> str:
    if not found.next_runs:
        return ""
    moment: datetime = found.next_runs[0]
    return moment.astimezone(ZoneInfo(found.schedule.timezone)).strftime("%Y-%m-%d %H:%M")


def _report_name(surface: str, name: str) -> str:
    spec = CATALOGS.get(surface, {}).get(name)
    return spec.display_name if spec else name


@router.get("/schedules")
async def schedules_page(request: Request, who: VisitorDep) -> Response:
    """The account's schedules, and a picker for a new one."""
    _admin(who)
    found = await list_schedules(who.principal)
    rows = [
        {
            "view": f,
            "report": _report_name(f.schedule.surface, f.schedule.report_type),
            "surface": get_surface(f.schedule.surface).title,
            "range": RANGE_LABELS.get(f.schedule.range, f.schedule.range),
            "when": _when_text(f),
            "next": _next_text(f),
        }
        for f in found
    ]
    return render(
        request,
        "schedules.html",
        who,
        rows=rows,
        catalogs=_reports(),
        notice=NOTICES.get(request.query_params.get("notice", ""), ""),
        active_nav=NAV[1],
    )


def _form_page(
    request: Request,
    who: Visitor,
    report: ReportSpec,
    values: dict[str, str],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    groups = _filter_groups(report)
    names = {f.name for f in all_fields(groups)} | set(OWN_FIELDS)
    beside, _above, summary = placed_errors(errors, names)
    return render(
        request,
        "schedule_new.html",
        who,
        status_code=status_code,
        report=report,
        surface=get_surface(report.surface),
        groups=groups,
        values=values,
        errors=beside,
        summary=summary,
        input_value=input_value,
        ranges=[(r, RANGE_LABELS.get(r, r)) for r in RELATIVE_RANGES],
        whens=[(w, WHEN_LABELS[w]) for w in (*PRESETS, CUSTOM)],
        active_nav=NAV[1],
    )


@router.get("/schedules/new")
async def new_schedule(request: Request, who: VisitorDep) -> Response:
    """The chosen report's schedule form (or back to the list for an unknown report)."""
    _admin(who)
    report = _report(request.query_params.get("report", ""))
    if report is None:
        raise NotFoundError(UNKNOWN_REPORT)
    defaults = {f.name: f.default for f in all_fields(_filter_groups(report)) if f.default}
    values = {
        "format": report.default_format,
        "range": "previous-day",
        "when": "daily",
        "at": DEFAULT_AT,
        "timezone": "UTC",
        **defaults,
    }
    return _form_page(request, who, report, values, {})


def _field_of(error: ValidationError) -> str:
    """The form field a service error names (``filters.env`` is the ``env`` field)."""
    name = error.field or TOP
    if name.startswith("filters."):
        return name.removeprefix("filters.")
    if name == "preset":
        return "when"
    return name if name in OWN_FIELDS else (TOP if name in ("report_type", "schedule") else name)


@router.post("/schedules")
async def create(request: Request, who: VisitorDep) -> Response:
    """Validate and create through the schedules service, as the API does."""
    form = await checked_form(request, who.session.nonce)
    _admin(who)
    report = _report(form.get("report", ""))
    if report is None:
        raise NotFoundError(UNKNOWN_REPORT)
    when = form.get("when", "")
    custom = when == CUSTOM
    wanted = Definition(
        surface=report.surface,
        report_type=report.name,
        range=form.get("range", ""),
        timezone=form.get("timezone", "").strip() or "UTC",
        format=form.get("format") or None,
        filters=request_params(_filter_groups(report), form),
        cron=(form.get("cron", "").strip() or "") if custom else None,
        preset=None if custom else when,
        at=None if custom else (form.get("at", "").strip() or None),
        name=form.get("name", "").strip() or None,
    )
    try:
        await create_schedule(who.principal, wanted)
    except ValidationError as exc:
        return _form_page(request, who, report, form, {_field_of(exc): exc.message}, 400)
    except ServiceUnavailableError:
        return _form_page(request, who, report, form, {TOP: UNAVAILABLE}, 503)
    return RedirectResponse(f"{PREFIX}/schedules?notice=created", status_code=303)


async def _change(request: Request, who: Visitor, schedule_id: str, action: str) -> Response:
    await checked_form(request, who.session.nonce)
    _admin(who)
    if action == "delete":
        await remove_schedule(who.principal, schedule_id)
        notice = "deleted"
    else:
        await set_paused(who.principal, schedule_id, action == "pause")
        notice = "paused" if action == "pause" else "resumed"
    return RedirectResponse(f"{PREFIX}/schedules?notice={notice}", status_code=303)


@router.post("/schedules/{schedule_id}/pause")
async def pause(request: Request, who: VisitorDep, schedule_id: str) -> Response:
    """No new runs until resumed."""
    return await _change(request, who, schedule_id, "pause")


@router.post("/schedules/{schedule_id}/resume")
async def resume(request: Request, who: VisitorDep, schedule_id: str) -> Response:
    """Runs again from its next fire time."""
    return await _change(request, who, schedule_id, "resume")


@router.post("/schedules/{schedule_id}/delete")
async def delete(request: Request, who: VisitorDep, schedule_id: str) -> Response:
    """Remove the schedule (the exports it made stay)."""
    return await _change(request, who, schedule_id, "delete")
