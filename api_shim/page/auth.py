"""Sign-in with an account's API key, and sign-out."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from api_shim.page.deps import PREFIX, SignedOut, VisitorDep, checked_form, render
from api_shim.page.session import (
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    SIGN_IN_COOKIE_SECONDS,
    csrf_token,
    new_session,
    new_sign_in_nonce,
    read_session,
    read_sign_in_nonce,
)
from jobstore.accounts import authenticate_key
from jobstore.store import job_engine
from report_exports.settings import get_settings
from submission.service import blocking

router = APIRouter()

NOTICES = {
    "signed-out": "You are signed out.",
    "ended": "Your session has ended. Sign in again to continue.",
}
BAD_KEY = "That API key is not valid (or it was revoked)."
TOO_MANY = "Too many sign-in attempts from your address. Try again in a minute."


def safe_next(target: str | None) -> str:
    """Where to go after sign-in: a path of the page, never another site."""
    if target and target.startswith(PREFIX + "/") and "//" not in target and "\\" not in target:
        return target
    return PREFIX + "/"


def secure_cookies(request: Request) -> bool:
    """Cookies are Secure when the page is served over https (or published as such)."""
    return request.url.scheme == "https" or get_settings().base_url.startswith("https://")


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    """A signed, HttpOnly, SameSite=Lax cookie of the page."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=PREFIX,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
    )


def signed_out(request: Request, exc: SignedOut) -> Response:
    """Send a visitor without a valid session to sign-in (the bad cookie is dropped)."""
    path = request.url.path
    target = (
        f"{PREFIX}/sign-in?next={quote(path)}" if request.method == "GET" else f"{PREFIX}/sign-in"
    )
    if exc.had_cookie:
        target += ("&" if "?" in target else "?") + "notice=ended"
    response = RedirectResponse(target, status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return response


def _sign_in_page(
    request: Request, status_code: int = 200, error: str = "", notice: str = ""
) -> Response:
    nonce = read_sign_in_nonce(request.cookies.get(SIGN_IN_COOKIE))
    cookie = None
    if nonce is None:
        nonce, cookie = new_sign_in_nonce()
    response = render(
        request,
        "sign_in.html",
        None,
        status_code=status_code,
        csrf=csrf_token(nonce),
        next=safe_next(request.query_params.get("next")),
        error=error,
        notice=notice,
    )
    if cookie is not None:
        set_cookie(request, response, SIGN_IN_COOKIE, cookie, SIGN_IN_COOKIE_SECONDS)
    return response


@router.get("/sign-in")
async def sign_in_form(request: Request) -> Response:
    """The sign-in form (a signed-in visitor goes straight to the exports)."""
    if read_session(request.cookies.get(SESSION_COOKIE)) is not None:
        return RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    notice = NOTICES.get(request.query_params.get("notice", ""), "")
    return _sign_in_page(request, notice=notice)


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    """Check the key and start a session; attempts are limited per client address."""
    address = request.client.host if request.client else "unknown"
    wait = request.app.state.sign_in_limiter.attempt(address)
    if wait is not None:
        response = _sign_in_page(request, 429, error=TOO_MANY)
        response.headers["Retry-After"] = str(max(1, int(wait + 0.999)))
        return response
    nonce = read_sign_in_nonce(request.cookies.get(SIGN_IN_COOKIE))
    form = await checked_form(request, nonce)
    found = await blocking(authenticate_key, job_engine(), form.get("api_key", "").strip())
    if found is None:
        return _sign_in_page(request, 400, error=BAD_KEY)
    key_id, _principal = found
    lifetime = get_settings().ui_session_hours * 3600
    _data, cookie = new_session(key_id, lifetime)
    response = RedirectResponse(safe_next(form.get("next")), status_code=303)
    set_cookie(request, response, SESSION_COOKIE, cookie, int(lifetime))
    response.delete_cookie(SIGN_IN_COOKIE, path=PREFIX)
    return response


@router.post("/sign-out")
async def sign_out(request: Request, who: VisitorDep) -> Response:
    """End the session."""
    await checked_form(request, who.session.nonce)
    response = RedirectResponse(f"{PREFIX}/sign-in?notice=signed-out", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return response
