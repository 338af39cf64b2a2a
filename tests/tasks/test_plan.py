"""plan: chunks from counted or sampled rows per day cover the export, each row once.

A sampled plan (large PostgreSQL tables) estimates the rows of each day from a block
sample; the tests compare its chunks with exact counts made independently in SQL.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from catalog.base import ReportParams
from catalog.registry import get_report, validate_request
from catalog.sources import verification_events as events
from demo_data.generate import generate
from report_exports.database import engine_for
from tasks.plan import estimate_chunks
from tests.postgres import scratch_database, server_url

ROWS = 40_000
PARAMS = {"env": "live", "from": "2025-09-01", "to": "2026-01-31"}


@pytest.fixture(scope="module")
def source() -> Iterator[str]:
    """Demo data in a scratch PostgreSQL database, analysed (the planner's row count)."""
    with scratch_database(server_url(), prefix="rex_plan") as url:
        generate(url, ROWS, seed=3)
        with engine_for(url).connect() as conn:
            conn.exec_driver_sql("ANALYZE verification_events")
            conn.commit()
        yield url


def _exact_rows(url: str, start: datetime, end: datetime) -> int:
    stmt = select(func.count()).where(
        events.c.account_id == 1,
        events.c.env == "live",
        events.c.created_at >= start,
        events.c.created_at < end,
    )
    with engine_for(url).connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def _plan(url: str, **sampling: int) -> list:
    report = get_report("verifyhuman", "full")
    params = validate_request("verifyhuman", "full", "csv", PARAMS).params
    return estimate_chunks(report, params, 1, url, 2_000, **sampling)


@pytest.mark.postgres
def test_a_sampled_plan_covers_the_window_and_every_row_once(source: str) -> None:
    counted = _plan(source)
    sampled = _plan(source, sample_above_rows=10_000, sample_rows=4_000)
    window = (datetime(2025, 9, 1), datetime(2026, 2, 1))
    assert (sampled[0].start, sampled[-1].end) == window
    assert all(a.end == b.start for a, b in zip(sampled, sampled[1:], strict=False))
    exact_total = _exact_rows(source, *window)
    assert exact_total > 5_000  # several chunks of 2,000
    assert sum(_exact_rows(source, c.start, c.end) for c in sampled) == exact_total
    # Estimates, not counts, but near them; the counted plan's estimates are exact.
    assert sum(c.estimated_rows for c in counted) == exact_total
    estimated = sum(c.estimated_rows for c in sampled)
    assert 0.6 * exact_total < estimated < 1.6 * exact_total
    assert 0.5 * len(counted) <= len(sampled) <= 2 * len(counted)
    assert _plan(source, sample_above_rows=10_000, sample_rows=4_000) == sampled  # REPEATABLE


@pytest.mark.postgres
def test_small_tables_are_counted_not_sampled(source: str) -> None:
    assert _plan(source, sample_above_rows=ROWS * 10) == _plan(source)


@pytest.mark.postgres
def test_a_sampled_plan_without_a_window_spans_the_data_exactly(source: str) -> None:
    """No window asked for: the first and last rows are found exactly, not from the sample."""
    everything = dataclasses.replace(
        get_report("verifyhuman", "full"),
        query=lambda _params, account: select(events.c.id).where(events.c.account_id == account),
    )
    chunks = estimate_chunks(
        everything, ReportParams(), 1, source, 2_000, sample_above_rows=10_000, sample_rows=4_000
    )
    with engine_for(source).connect() as conn:
        first, last, total = conn.execute(
            select(
                func.min(events.c.created_at), func.max(events.c.created_at), func.count()
            ).where(events.c.account_id == 1)
        ).one()
    assert chunks[0].start == datetime.combine(first.date(), datetime.min.time())
    assert chunks[-1].end == last.replace(microsecond=0) + timedelta(seconds=1)
    assert sum(_exact_rows_any_env(source, c.start, c.end) for c in chunks) == total


def _exact_rows_any_env(url: str, start: datetime, end: datetime) -> int:
    stmt = select(func.count()).where(
        events.c.account_id == 1, events.c.created_at >= start, events.c.created_at < end
    )
    with engine_for(url).connect() as conn:
        return int(conn.execute(stmt).scalar_one())
