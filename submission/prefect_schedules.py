"""The Prefect side of account schedules: schedules of the ``recurring-export`` deployment.

Each account schedule is one deployment schedule with a slug of its own
(``account-schedule-<id>``) and the schedule's parameters, so it shows in the Prefect UI
with its next runs and Prefect's scheduler fires it. Slugs also keep them safe when the
deployment is applied again (served or ``prefect deploy``): Prefect then updates
schedules by slug instead of replacing them. Schedules without our prefix (an
operator's own) are never touched. Failures leave as ``LaunchError`` (text for logs).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from submission.launcher import LaunchError, call_prefect

PATIENT = 7
"""Attempts at a schedule change: about 7 s of a busy Prefect server before a 503."""

logger = logging.getLogger(__name__)

SCHEDULES_DEPLOYMENT = "recurring-export/recurring-export"
SLUG_PREFIX = "account-schedule-"


def slug_for(schedule_id: str) -> str:
    """The Prefect slug of an account schedule."""
    return f"{SLUG_PREFIX}{schedule_id}"


@dataclass(frozen=True)
class Wanted:
    """What Prefect should hold for one account schedule."""

    slug: str
    cron: str
    timezone: str
    active: bool
    parameters: dict[str, Any]


@dataclass(frozen=True)
class Held:
    """A schedule as Prefect holds it."""

    id: str
    slug: str | None
    cron: str | None
    timezone: str | None
    active: bool
    parameters: dict[str, Any]
    created: datetime | None

    def matches(self, wanted: Wanted) -> bool:
        """True when nothing needs to change in Prefect."""
        return (self.slug, self.cron, self.timezone, self.active, self.parameters) == (
            wanted.slug,
            wanted.cron,
            wanted.timezone,
            wanted.active,
            wanted.parameters,
        )


_deployment_ids: dict[str, uuid.UUID] = {}


async def deployment_id(refresh: bool = False) -> uuid.UUID:
    """The recurring-export deployment's id (cached; a wiped server gets a new one)."""
    from prefect.exceptions import ObjectNotFound

    if refresh or SCHEDULES_DEPLOYMENT not in _deployment_ids:

        async def read(client: Any) -> Any:
            return await client.read_deployment_by_name(SCHEDULES_DEPLOYMENT)

        try:
            deployment = await call_prefect(
                read, "could not read the recurring-export deployment", attempts=PATIENT
            )
        except ObjectNotFound as exc:
            raise LaunchError(f"deployment {SCHEDULES_DEPLOYMENT} is missing") from exc
        _deployment_ids[SCHEDULES_DEPLOYMENT] = deployment.id
    return _deployment_ids[SCHEDULES_DEPLOYMENT]


async def _on_deployment(action: Any, doing: str) -> Any:
    """``action(client, deployment_id)``, reading the deployment's id again once if gone."""
    from prefect.exceptions import ObjectNotFound

    for refresh in (False, True):
        ident = await deployment_id(refresh)

        async def on(client: Any, ident: uuid.UUID = ident) -> Any:
            return await action(client, ident)

        try:
            return await call_prefect(on, doing, attempts=PATIENT)
        except ObjectNotFound:
            if refresh:
                raise
    raise AssertionError("unreachable")


def _held(raw: Any) -> Held:
    schedule = raw.schedule
    return Held(
        id=str(raw.id),
        slug=raw.slug,
        cron=getattr(schedule, "cron", None),
        timezone=getattr(schedule, "timezone", None),
        active=bool(raw.active),
        parameters=dict(raw.parameters or {}),
        created=raw.created,
    )


async def read_held() -> list[Held]:
    """Every schedule of the deployment whose slug is an account schedule's."""

    async def read(client: Any, ident: uuid.UUID) -> Any:
        return await client.read_deployment_schedules(ident)

    found = await _on_deployment(read, "could not read the deployment's schedules")
    return [_held(s) for s in found if (s.slug or "").startswith(SLUG_PREFIX)]


def _cron(wanted: Wanted) -> Any:
    from prefect.client.schemas.schedules import CronSchedule

    return CronSchedule(cron=wanted.cron, timezone=wanted.timezone)


async def create(wanted: Wanted, *, refill_now: bool = True) -> str:
    """Create the schedule in Prefect (or update the one with its slug); its Prefect id."""
    from prefect.client.schemas.actions import DeploymentScheduleCreate

    for held in await read_held():
        if held.slug == wanted.slug:
            await update(held.id, wanted, refill_now=refill_now)
            return held.id

    async def make(client: Any, ident: uuid.UUID) -> Any:
        body = DeploymentScheduleCreate(
            schedule=_cron(wanted),
            active=wanted.active,
            parameters=wanted.parameters,
            slug=wanted.slug,
        )
        return await client.create_deployment_schedules(ident, [body])

    (made,) = await _on_deployment(make, "could not create the schedule")
    if refill_now:
        await refill()
    return str(made.id)


async def update(prefect_id: str, wanted: Wanted, *, refill_now: bool = True) -> bool:
    """Make Prefect's schedule ``prefect_id`` the wanted one; False when it is gone."""
    from prefect.exceptions import ObjectNotFound

    async def change(client: Any, ident: uuid.UUID) -> None:
        await client.update_deployment_schedule(
            ident,
            uuid.UUID(prefect_id),
            active=wanted.active,
            schedule=_cron(wanted),
            parameters=wanted.parameters,
            slug=wanted.slug,
        )

    try:
        await _on_deployment(change, "could not update the schedule")
    except ObjectNotFound:
        return False
    if refill_now:
        await refill()
    return True


async def delete(prefect_id: str, *, refill_now: bool = True) -> bool:
    """Delete Prefect's schedule (its future runs go with it); False when already gone."""
    from prefect.exceptions import ObjectNotFound

    async def remove(client: Any, ident: uuid.UUID) -> None:
        await client.delete_deployment_schedule(ident, uuid.UUID(prefect_id))

    try:
        await _on_deployment(remove, "could not delete the schedule")
    except ObjectNotFound:
        return False
    if refill_now:
        await refill()
    return True


async def refill() -> None:
    """Have Prefect schedule the deployment's next runs now.

    Changing or deleting any schedule of a deployment deletes the deployment's future
    scheduled runs (all its schedules'); Prefect's scheduler makes them again at its next
    loop (60 s by default), and a run due before then would be missed. Asking for them
    now closes that gap. Scheduling is idempotent per schedule and time.
    """

    async def schedule(client: Any, ident: uuid.UUID) -> None:
        deployment = await client.read_deployment(ident)
        if not deployment.paused:
            await client.request("POST", f"/deployments/{ident}/schedule", json={})

    try:
        await _on_deployment(schedule, "could not schedule the deployment's runs")
    except Exception as exc:  # LaunchError, or the deployment gone meanwhile
        logger.warning("next runs not scheduled now (the scheduler's loop will): %s", exc)
