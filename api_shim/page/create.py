"""New export: pick a report, then its format and filters; created by the submission service."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from api_shim.page.deps import PREFIX, Visitor, VisitorDep, checked_form, page_surfaces, render
from api_shim.page.forms import all_fields, form_of, input_value, placed_errors, request_params
from catalog.base import ReportSpec
from catalog.registry import CATALOGS
from report_exports.errors import ForbiddenError, ServiceUnavailableError, ValidationError
from submission.service import submit
from surfaces.registry import get_surface

router = APIRouter()
TOP = ""
"""Errors that belong to no one field are shown above the form."""
UNKNOWN_REPORT = "Choose a report from the list."
UNAVAILABLE = "The export service cannot be reached just now. Try again shortly."


def _reports() -> list[tuple[Any, list[ReportSpec]]]:
    return [(get_surface(n), list(CATALOGS.get(n, {}).values())) for n in page_surfaces()]


def _report(name: str) -> ReportSpec | None:
    for _surface, reports in _reports():
        for report in reports:
            if report.name == name:
                return report
    return None


def _form_page(
    request: Request,
    who: Visitor,
    report: ReportSpec,
    values: dict[str, str],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    groups = form_of(report)
    names = {f.name for f in all_fields(groups)} | {"format"}
    # A field the form does not show (a whole nested model's rule) is said above it.
    beside, above, summary = placed_errors(errors, names)
    return render(
        request,
        "new.html",
        who,
        status_code=status_code,
        report=report,
        surface=get_surface(report.surface),
        groups=groups,
        values=values,
        errors=beside,
        above=above,
        summary=summary,
        input_value=input_value,
        active_nav="new",
    )


@router.get("/exports/new")
async def new_export(request: Request, who: VisitorDep) -> Response:
    """The report picker, or the chosen report's form."""
    chosen = request.query_params.get("report")
    report = _report(chosen) if chosen else None
    if report is None:
        error = UNKNOWN_REPORT if chosen else ""
        return render(
            request,
            "pick.html",
            who,
            status_code=404 if chosen else 200,
            catalogs=_reports(),
            error=error,
            active_nav="new",
        )
    defaults = {f.name: f.default for f in all_fields(form_of(report)) if f.default}
    return _form_page(request, who, report, {"format": report.default_format, **defaults}, {})


@router.post("/exports")
async def create_export(request: Request, who: VisitorDep) -> Response:
    """Validate like the API (plan gate, catalog) and create through the submission service."""
    form = await checked_form(request, who.session.nonce)
    report = _report(form.get("report", ""))
    if report is None:
        return render(
            request,
            "pick.html",
            who,
            status_code=400,
            catalogs=_reports(),
            error=UNKNOWN_REPORT,
            active_nav="new",
        )
    params = request_params(form_of(report), form)
    fmt = form.get("format") or None
    try:
        view, created = await submit(who.principal, report.surface, report.name, fmt, params)
    except ValidationError as exc:
        field = exc.field if exc.field not in (None, "report_type") else TOP
        return _form_page(request, who, report, form, {field or TOP: exc.message}, 400)
    except ForbiddenError as exc:
        return _form_page(request, who, report, form, {TOP: exc.message}, 403)
    except ServiceUnavailableError:
        return _form_page(request, who, report, form, {TOP: UNAVAILABLE}, 503)
    target = f"{PREFIX}/exports/{view.job.public_id}"
    return RedirectResponse(target + ("" if created else "?notice=duplicate"), status_code=303)
