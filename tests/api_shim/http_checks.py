"""Checks shared by the HTTP tests: what every refusal must look like, that it leaves no
job row behind, and a way to hold flow runs back while a test looks at a queued job.

Shapes (the seeds; api_shim/errors.py renders them):
VerifyHuman ``{"error": message, "field"?: name}``;
HiEnergy ``{"error": {"code", "message", "field"?}}``;
Webhooks ``{"error": {"code", "message"}, "meta": {"request_id"}}``.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import func, select

from jobstore.models import ExportJob
from jobstore.store import job_engine

# A request that launches or reads a flow run waits on the Prefect server, whose SQLite
# waits up to 60 s for a lock under load: generous, since tests check behaviour, not speed.
HTTP_TIMEOUT = 120.0

VH, HE, WH = "/api/reports/exports", "/api/v1/exports", "/v1/exports"
SEED_CODES = {400: "INVALID_REQUEST", 401: "UNAUTHORIZED", 404: "NOT_FOUND"}
"""The codes the webhook seed documents; other statuses need some UPPER_SNAKE code."""
ANY_FIELD = object()
"""``field=ANY_FIELD``: the error may or may not name a field."""


def surface_of(path: str) -> str:
    """Whose shape (and way of sending a key) a path has: "vh", "he" or "wh"."""
    if path.startswith(HE):
        return "he"
    return "wh" if path.startswith((WH, "/account/")) else "vh"  # /account/: wh's envelope


def job_rows() -> int:
    """Rows of ``export_jobs`` in the job store the API writes to."""
    with job_engine().connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ExportJob)).scalar_one())


@contextmanager
def runner_paused(stack: Any) -> Iterator[None]:
    """Nothing picks a flow run up while the served deployments' process is stopped."""
    os.kill(stack.serve_pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(stack.serve_pid, signal.SIGCONT)


@contextmanager
def no_job_row() -> Iterator[None]:
    """The requests inside the block must not create a job row."""
    before = job_rows()
    yield
    assert job_rows() == before, "a refused request created a job row"


def expect_error(
    response: httpx.Response,
    status: int,
    message: str | None = None,
    *,
    field: Any = None,
    exact: str | None = None,
) -> str:
    """Assert ``response`` is ``status`` in its surface's exact error shape; the message.

    ``field`` is the field the error must name (VerifyHuman and HiEnergy carry it as
    ``field``; the webhooks shape has none, so its message must name it); None means the
    error names no field.
    """
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    surface = surface_of(response.request.url.path)
    assert isinstance(body, dict), body
    if surface == "vh":
        assert set(body) <= {"error", "field"} and "error" in body, body
        text, named = body["error"], body.get("field")
    elif surface == "he":
        assert set(body) == {"error"} and set(body["error"]) <= {"code", "message", "field"}
        text, named = body["error"]["message"], body["error"].get("field")
    else:
        assert set(body) == {"error", "meta"} and set(body["error"]) == {"code", "message"}
        assert set(body["meta"]) == {"request_id"}, body
        assert body["meta"]["request_id"].startswith("req_"), body
        text, named = body["error"]["message"], None
    if surface != "vh":
        code = body["error"]["code"]
        assert code == SEED_CODES.get(status, code) and re.fullmatch(r"[A-Z_]+", code), body
    assert isinstance(text, str) and text.strip(), body
    if exact is not None:
        assert text == exact, body
    if message is not None:
        assert message in text, body
    if field is ANY_FIELD:
        return text
    if surface != "wh":
        assert named == field, body
    elif field:
        assert field.rsplit(".", 1)[-1] in text, f"the message should name {field}: {body}"
    return text


def launched_run_id(public_id: str, timeout: float = 30) -> str:
    """The flow run the API's background delivery made for a job (waits for the launch)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        with job_engine().connect() as conn:
            run_id = conn.execute(
                select(ExportJob.flow_run_id).where(ExportJob.public_id == public_id)
            ).scalar_one()
        if run_id is not None:
            return str(run_id)
        assert time.monotonic() < deadline, f"job {public_id} was never launched"
        time.sleep(0.05)
