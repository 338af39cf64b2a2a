"""The schedule service against a real Prefect server and real job stores that fail.

Nothing is half-made: when Prefect cannot be written no row is stored, and when the store
refuses the row (a SQLite trigger aborts the insert) the Prefect schedule is taken back.
A plan's range limit is checked against the longest period a range covers. The sync
deletes account schedules that no row names, once past the grace.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from jobstore.accounts import Principal, create_account
from jobstore.schedules import account_schedules
from jobstore.store import init_store, job_engine
from report_exports.errors import ServiceUnavailableError, ValidationError
from report_exports.settings import get_settings
from submission import prefect_schedules
from submission.schedules import ORPHAN_GRACE, Definition, create_schedule, sync_schedules, validate
from surfaces.registry import get_surface, register, unregister

DAILY = Definition(
    surface="verifyhuman",
    report_type="overview",
    range="previous-day",
    timezone="Europe/Berlin",
    format="csv",
    filters={"env": "live"},
    preset="daily",
)


def _admin(account_id: int = 1, plan: str = "growth") -> Principal:
    return Principal(account_id, "acme", plan, "proj_acme01", "admin", "test@acme")


@pytest.fixture
def scratch_store(stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A job store of its own (with acme) for this test; the stack keeps the session's."""
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    monkeypatch.setenv("REPORT_EXPORTS_DATABASE_URL", url)
    get_settings.cache_clear()
    init_store(job_engine())
    create_account(job_engine(), "acme", "growth", account_id=1)
    try:
        yield url
    finally:
        monkeypatch.delenv("REPORT_EXPORTS_DATABASE_URL")
        get_settings.cache_clear()


def _slugs() -> set[str]:
    return {h.slug or "" for h in asyncio.run(prefect_schedules.read_held())}


def test_no_row_when_prefect_cannot_be_written(scratch_store: str) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    prefect_schedules._deployment_ids.clear()
    nothing_listens = temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"})
    with nothing_listens, pytest.raises(ServiceUnavailableError):
        asyncio.run(create_schedule(_admin(), DAILY))
    prefect_schedules._deployment_ids.clear()
    assert account_schedules(job_engine(), 1) == []


def test_no_prefect_schedule_when_the_store_refuses_the_row(scratch_store: str) -> None:
    before = _slugs()
    with job_engine().begin() as conn:
        conn.execute(
            text(
                "CREATE TRIGGER refuse BEFORE INSERT ON schedules "
                "BEGIN SELECT RAISE(ABORT, 'the store refuses'); END"
            )
        )
    with pytest.raises(IntegrityError):
        asyncio.run(create_schedule(_admin(), DAILY))
    assert _slugs() == before
    with job_engine().begin() as conn:
        conn.execute(text("DROP TRIGGER refuse"))
    made = asyncio.run(create_schedule(_admin(), DAILY))  # the store takes it now
    assert _slugs() == before | {prefect_schedules.slug_for(made.schedule.id)}
    assert [s.id for s in account_schedules(job_engine(), 1)] == [made.schedule.id]


def test_the_sync_deletes_prefect_schedules_no_row_names_after_the_grace(
    scratch_store: str,
) -> None:
    # An undo that never reached Prefect: a schedule with our slug and no row.
    wanted = prefect_schedules.Wanted(
        slug=prefect_schedules.slug_for("00000000-0000-7000-8000-000000000000"),
        cron="0 7 * * *",
        timezone="UTC",
        active=False,
        parameters={"account": "acme", "surface": "verifyhuman", "report_type": "overview"},
    )
    asyncio.run(prefect_schedules.create(wanted))
    (orphan,) = [h for h in asyncio.run(prefect_schedules.read_held()) if h.slug == wanted.slug]
    assert orphan.created is not None
    early = asyncio.run(sync_schedules(orphan.created + timedelta(seconds=1)))
    assert wanted.slug not in early.deleted and wanted.slug in _slugs()
    late = asyncio.run(sync_schedules(orphan.created + ORPHAN_GRACE))
    assert wanted.slug in late.deleted and wanted.slug not in _slugs()


def test_a_range_longer_than_the_plan_allows_is_refused() -> None:
    base = get_surface("verifyhuman")
    assert base.plan_gate is not None
    tight = replace(
        base,
        name="tight",
        base_path="/tight",
        plan_gate=replace(base.plan_gate, max_range_days={"growth": 7}),
    )
    register(tight)
    try:
        with pytest.raises(ValidationError) as caught:
            validate(_admin(), replace(DAILY, surface="tight", range="previous-month"))
        assert caught.value.field == "range"
        assert caught.value.message.startswith("range: ") and "7 days" in caught.value.message
        with pytest.raises(ValidationError) as caught:  # a week fits: the report is next
            validate(_admin(), replace(DAILY, surface="tight", range="previous-week"))
        assert caught.value.field == "report_type"
    finally:
        unregister("tight")
    assert (
        validate(_admin(plan="pro"), replace(DAILY, range="month-to-date"))["cron"] == "0 7 * * *"
    )
