"""Rows of the ``schedules`` table: recurring exports' definitions. One short transaction each.

The rules (what a valid schedule is, keeping Prefect in step) live in
``submission.schedules``; this module only stores and reads.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.orm import Session

from jobstore.models import Account, ExportSchedule, utcnow

EDITABLE = frozenset(
    {
        "name",
        "surface",
        "report_type",
        "format",
        "filters",
        "range",
        "cron",
        "preset",
        "timezone",
        "paused",
    }
)
"""Columns a change of definition may set (the id, account and times are the store's)."""


def insert_schedule(engine: Engine, schedule: ExportSchedule) -> ExportSchedule:
    """Store a new schedule and return it."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        session.add(schedule)
    return schedule


def get_schedule(engine: Engine, schedule_id: str) -> ExportSchedule | None:
    """The schedule with this id, or None."""
    with Session(engine, expire_on_commit=False) as session:
        return session.get(ExportSchedule, schedule_id)


def account_schedules(engine: Engine, account_id: int) -> list[ExportSchedule]:
    """An account's schedules, oldest first."""
    with Session(engine, expire_on_commit=False) as session:
        return list(
            session.scalars(
                select(ExportSchedule)
                .where(ExportSchedule.account_id == account_id)
                .order_by(ExportSchedule.created_at, ExportSchedule.id)
            )
        )


def count_schedules(engine: Engine, account_id: int) -> int:
    """How many schedules an account has."""
    with Session(engine) as session:
        stmt = select(func.count()).select_from(ExportSchedule)
        return int(session.scalar(stmt.where(ExportSchedule.account_id == account_id)) or 0)


def all_schedules(engine: Engine) -> list[tuple[ExportSchedule, str]]:
    """Every schedule with its account's name (what the sync puts in Prefect)."""
    with Session(engine, expire_on_commit=False) as session:
        rows = session.execute(
            select(ExportSchedule, Account.name)
            .join(Account, Account.id == ExportSchedule.account_id)
            .order_by(ExportSchedule.id)
        ).all()
    return [(schedule, name) for schedule, name in rows]


def update_schedule(engine: Engine, schedule_id: str, values: dict[str, Any]) -> bool:
    """Set definition columns (and the Prefect id); False when the row is gone."""
    allowed = EDITABLE | {"prefect_schedule_id"}
    unknown = set(values) - allowed
    if unknown:
        raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
    stmt = (
        update(ExportSchedule)
        .where(ExportSchedule.id == schedule_id)
        .values(**values, updated_at=utcnow())
    )
    with engine.begin() as conn:
        return conn.execute(stmt).rowcount == 1


def record_prefect_id(engine: Engine, schedule_id: str, prefect_schedule_id: str) -> None:
    """Note which Prefect schedule fires this one (the definition and its time stay)."""
    stmt = (
        update(ExportSchedule)
        .where(ExportSchedule.id == schedule_id)
        .values(prefect_schedule_id=prefect_schedule_id)
    )
    with engine.begin() as conn:
        conn.execute(stmt)


def delete_schedule(engine: Engine, schedule_id: str) -> bool:
    """Remove the row; False when it was already gone. Its jobs keep the id."""
    with engine.begin() as conn:
        stmt = delete(ExportSchedule).where(ExportSchedule.id == schedule_id)
        return conn.execute(stmt).rowcount == 1
