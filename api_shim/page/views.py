"""The exports: the list, one export's detail, its download and cancelling it.

The list and the detail work without JavaScript; ``page.js`` keeps them current while
exports run by polling the ``/live/...`` JSON twins, which answer the same rendered parts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from api_shim.downloads import Conditions, file_response
from api_shim.page import display
from api_shim.page.deps import (
    PREFIX,
    Visitor,
    VisitorDep,
    checked_form,
    page_surfaces,
    render,
    templates,
)
from catalog.registry import CATALOGS
from report_exports.errors import NotFoundError
from report_exports.settings import get_settings
from submission.service import (
    JobView,
    NotCancellable,
    cancel_queued,
    list_account_views,
    read_account_job,
)
from surfaces.base import Phase
from surfaces.registry import get_surface

router = APIRouter()
PER_PAGE = 25
PUBLIC_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
NOTICES = {
    "cancelled": "The export was cancelled.",
    "duplicate": "An identical export is already under way: here it is.",
    "not-cancellable": "That export has already started or finished, so it cannot be cancelled.",
}


@dataclass(frozen=True)
class Row:
    """One export as the page shows it."""

    view: JobView
    who: Visitor

    @property
    def job(self) -> Any:
        """The job row."""
        return self.view.job

    @property
    def report_name(self) -> str:
        """The report's display name (its type when the catalog no longer has it)."""
        spec = CATALOGS.get(self.job.surface, {}).get(self.job.report_type)
        return spec.display_name if spec else self.job.report_type

    @property
    def surface_title(self) -> str:
        """Which API the export belongs to."""
        return get_surface(self.job.surface).title

    @property
    def status(self) -> str:
        """The status in plain words."""
        return display.plain_status(self.view)

    @property
    def active(self) -> bool:
        """Queued or running: it will change by itself."""
        return not self.view.status.finished

    @property
    def progress(self) -> display.Progress:
        """Parts, rows and ETA as far as known."""
        return display.progress_of(self.view)

    @property
    def can_download(self) -> bool:
        """The file is there."""
        return self.view.status.file_available

    @property
    def can_cancel(self) -> bool:
        """Only exports that have not started can be cancelled."""
        return self.view.status.phase == Phase.QUEUED

    @property
    def flow_run_url(self) -> str | None:
        """The flow run in the Prefect UI, for admins."""
        if not self.who.principal.is_admin or not self.job.flow_run_id:
            return None
        settings = get_settings()
        base = settings.prefect_ui_url or (
            settings.prefect_api_url.rstrip("/").removesuffix("/api")
            or f"http://127.0.0.1:{settings.prefect_port}"
        )
        return f"{base.rstrip('/')}/runs/flow-run/{self.job.flow_run_id}"

    def params(self) -> list[tuple[str, str]]:
        """The parameters as (label, value), nested ones as ``Filters › Category``."""
        from api_shim.page.forms import GROUP_LEGENDS, label_of

        out: list[tuple[str, str]] = []
        for key, value in (self.job.params or {}).items():
            if isinstance(value, dict):
                group = GROUP_LEGENDS.get(key, label_of(key))
                out += [(f"{group} › {label_of(k)}", _value(v)) for k, v in value.items()]
            else:
                out.append((label_of(key), _value(value)))
        return out


def _value(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


async def _row(who: Visitor, public_id: str) -> Row:
    if not PUBLIC_ID.fullmatch(public_id):
        raise NotFoundError("Export job not found")
    view = await read_account_job(who.principal, page_surfaces(), public_id, own_only=who.own_only)
    return Row(view, who)


async def _rows(who: Visitor, page: int) -> tuple[list[Row], int]:
    found, total = await list_account_views(
        who.principal,
        page_surfaces(),
        limit=PER_PAGE,
        offset=(page - 1) * PER_PAGE,
        own_only=who.own_only,
    )
    return [Row(v, who) for v in found], total


def _page_number(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    return min(int(raw), 100_000) if raw.isdigit() and int(raw) > 0 else 1


@router.get("/")
async def exports(request: Request, who: VisitorDep) -> Response:
    """Every export of the account (or the member's own), newest first."""
    page = _page_number(request)
    rows, total = await _rows(who, page)
    return render(
        request,
        "exports.html",
        who,
        rows=rows,
        page=page,
        pages=max(1, -(-total // PER_PAGE)),
        total=total,
        active=any(r.active for r in rows),
        active_nav="exports",
        notice=NOTICES.get(request.query_params.get("notice", ""), ""),
    )


def _live(rows: list[Row], parts: dict[str, str]) -> JSONResponse:
    return JSONResponse(
        {
            "active": any(r.active for r in rows),
            "parts": parts,
            "statuses": {f"#{r.job.id} {r.report_name}": r.status for r in rows},
        }
    )


@router.get("/live/exports")
async def exports_live(request: Request, who: VisitorDep) -> JSONResponse:
    """The list's rows, rendered, for page.js."""
    rows, _ = await _rows(who, _page_number(request))
    html = templates.get_template("_rows.html").render(rows=rows, csrf=who.csrf)
    return _live(rows, {"export-rows": html})


@router.get("/exports/{public_id}")
async def export_detail(request: Request, public_id: str, who: VisitorDep) -> Response:
    """One export: status, progress, timeline, parameters, file facts."""
    row = await _row(who, public_id)
    return render(
        request,
        "detail.html",
        who,
        row=row,
        notice=NOTICES.get(request.query_params.get("notice", ""), ""),
    )


@router.get("/live/exports/{public_id}")
async def export_live(public_id: str, who: VisitorDep) -> JSONResponse:
    """The detail's status part, rendered, for page.js."""
    row = await _row(who, public_id)
    html = templates.get_template("_status.html").render(row=row, csrf=who.csrf)
    return _live([row], {"export-status": html})


@router.get("/exports/{public_id}/download")
async def download(public_id: str, who: VisitorDep, asked: Conditions) -> Response:
    """The file, streamed to the signed-in visitor (a plain link: no JavaScript needed)."""
    row = await _row(who, public_id)
    if not row.can_download:
        raise NotFoundError("Export file not found or expired")
    return file_response(row.job, asked)


@router.post("/exports/{public_id}/cancel")
async def cancel(request: Request, public_id: str, who: VisitorDep) -> Response:
    """Cancel an export that has not started."""
    form = await checked_form(request, who.session.nonce)
    row = await _row(who, public_id)
    try:
        await cancel_queued(who.principal, row.job.surface, public_id=public_id)
        notice = "cancelled"
    except NotCancellable:
        notice = "not-cancellable"
    back = f"{PREFIX}/" if form.get("back") == "list" else f"{PREFIX}/exports/{public_id}"
    return RedirectResponse(f"{back}?notice={notice}", status_code=303)
