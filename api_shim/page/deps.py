"""Who is looking at the page, their CSRF token, form bodies and rendering.

Every page but sign-in needs a session (:data:`VisitorDep`); every POST carries the
session's CSRF token (:func:`checked_form`). Section modules (``sections/``) use the same.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl

import jinja2
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from api_shim.page import display
from api_shim.page.session import SESSION_COOKIE, SessionData, csrf_token, csrf_valid, read_session
from jobstore.accounts import Principal, principal_of_key
from jobstore.store import job_engine
from report_exports.settings import get_settings
from submission.service import blocking
from surfaces.registry import surfaces

PREFIX = "/ui"
"""Where the app mounts the page (links are made from it)."""
HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
MAX_FORM_FIELDS = 200


def _asset_version() -> str:
    digest = hashlib.sha256()
    for path in sorted(STATIC_DIR.iterdir()):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


templates = Jinja2Templates(
    env=jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,  # every value is escaped, whatever the template's name
        undefined=jinja2.StrictUndefined,
    )
)
templates.env.globals.update(prefix=PREFIX, asset_version=_asset_version(), d=display)


class SignedOut(Exception):
    """No valid session: the cookie is missing, tampered with, expired or its key revoked."""

    def __init__(self, had_cookie: bool) -> None:
        super().__init__("signed out")
        self.had_cookie = had_cookie


class CsrfRefused(Exception):
    """A POST without this session's CSRF token."""


class BadForm(Exception):
    """A POST body that is not a form this page sends."""


@dataclass(frozen=True)
class Visitor:
    """A signed-in person: their principal and session."""

    principal: Principal
    session: SessionData

    @property
    def csrf(self) -> str:
        """The token this session's forms carry."""
        return csrf_token(self.session.nonce)

    @property
    def own_only(self) -> bool:
        """Members see their own exports on every surface; admins the account's."""
        return not self.principal.is_admin


async def visitor(request: Request) -> Visitor:
    """The signed-in visitor, or :class:`SignedOut`."""
    cookie = request.cookies.get(SESSION_COOKIE)
    data = read_session(cookie)
    if data is None:
        raise SignedOut(cookie is not None)
    principal = await blocking(principal_of_key, job_engine(), data.key_id)
    if principal is None:
        raise SignedOut(True)
    return Visitor(principal, data)


VisitorDep = Annotated[Visitor, Depends(visitor)]


async def form_body(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (the last value of a repeated name)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise BadForm
    try:
        text = (await request.body()).decode("utf-8")
        return dict(parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS))
    except ValueError:  # not UTF-8, or too many fields
        raise BadForm from None


async def checked_form(request: Request, nonce: str | None) -> dict[str, str]:
    """The form, if it carries the CSRF token of ``nonce``; else :class:`CsrfRefused`."""
    try:
        form = await form_body(request)
    except BadForm:
        raise CsrfRefused from None
    if not csrf_valid(nonce, form.get("csrf_token")):
        raise CsrfRefused
    return form


def page_surfaces() -> list[str]:
    """The surfaces the page shows: every one that is enabled."""
    settings = get_settings()
    return [s.name for s in surfaces().values() if s.enabled(settings)]


NAV: list[tuple[str, str]] = []
"""Navigation items of sections (label, path under the prefix), filled by the app."""
ADMIN_NAV: set[str] = set()
"""Paths of sections only admins see (a section's ``ADMIN_ONLY = True``)."""


def render(
    request: Request,
    name: str,
    who: Visitor | None,
    *,
    status_code: int = 200,
    csrf: str | None = None,
    **context: Any,
) -> HTMLResponse:
    """A page from its template, with the visitor, CSRF token and navigation."""
    values = {
        "visitor": who,
        "csrf": csrf if csrf is not None else (who.csrf if who else ""),
        "nav": [n for n in NAV if n[1] not in ADMIN_NAV or (who and who.principal.is_admin)],
        "active_nav": context.pop("active_nav", ""),
        "notice": context.pop("notice", ""),
        **context,
    }
    return templates.TemplateResponse(request, name, values, status_code=status_code)
