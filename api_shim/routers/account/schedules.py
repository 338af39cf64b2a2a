"""Recurring exports an account manages itself: ``/account/v1/schedules`` (admin key).

Routes parse and serialise; ``submission.schedules`` validates, writes Prefect and the job
store, and keeps them in step. Errors come in the webhook surface's envelope, the
field at fault named in the message.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from api_shim.deps import AccountAdmin
from api_shim.errors import ApiError, error_responses, request_id
from api_shim.routers.account import PREFIX
from api_shim.serialize import iso
from catalog.cadence import Preset
from catalog.registry import FORMATS
from catalog.relative_ranges import RelativeRange
from submission.schedules import (
    Definition,
    ScheduleView,
    create_schedule,
    edit_schedule,
    get_schedule_view,
    list_schedules,
    remove_schedule,
    set_paused,
)
from surfaces.webhooks import RequestMeta

SHAPE = "webhooks"
router = APIRouter(
    prefix=f"{PREFIX}/schedules",
    tags=["Account: recurring exports"],
    responses=error_responses(SHAPE, 400, 401, 403, 503),
)

Format = Literal["csv", "xlsx", "pdf"]
Range = RelativeRange
At = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", examples=["07:00"])]
Name = Annotated[str, Field(max_length=120, description="A label for people")]
SurfaceName = Annotated[str, Field(max_length=32, description="verifyhuman, hienergy or webhooks")]
ReportType = Annotated[str, Field(max_length=64, description="A report of that surface")]
Cron = Annotated[str, Field(max_length=120, description="Five-field cron, local time")]
Zone = Annotated[str, Field(max_length=64, description="IANA time zone")]
ScheduleId = Annotated[str, Path(max_length=36, description="The schedule's id (UUIDv7)")]
EXAMPLE: dict[str, Any] = {
    "name": "Last week's usage for finance",
    "surface": "hienergy",
    "report_type": "clicks_details_excel",
    "format": "xlsx",
    "filters": {"search_params": {"converted": True}},
    "range": "previous-week",
    "preset": "weekly",
    "at": "07:00",
    "timezone": "Europe/Berlin",
}


class CreateSchedule(BaseModel):
    """A recurring export: which export, which relative range, and when (cron or preset)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE]})

    name: Name | None = None
    surface: SurfaceName
    report_type: ReportType
    format: Format | None = Field(None, description="Default: the report's own")
    filters: dict[str, Any] = Field(
        default_factory=dict,
        description="The surface's request fields other than its date range, "
        'e.g. {"env": "live"} or {"search_params": {"converted": true}}',
    )
    range: Range = Field(description="The period each run exports, in `timezone`")
    cron: Cron | None = None
    preset: Preset | None = Field(
        None, description="daily; weekly (Mondays); monthly (the 1st): at `at`"
    )
    at: At | None = Field(None, description="A preset's local time, HH:MM (default 07:00)")
    timezone: Zone = "UTC"
    paused: bool = False


class EditSchedule(BaseModel):
    """Fields to change; a cron replaces a preset and the other way round."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"at": "08:30"}]})

    name: Name | None = None
    surface: SurfaceName | SkipJsonSchema[None] = None
    report_type: ReportType | SkipJsonSchema[None] = None
    format: Format | None = None
    filters: dict[str, Any] | SkipJsonSchema[None] = None
    range: Range | SkipJsonSchema[None] = None
    cron: Cron | None = None
    preset: Preset | None = None
    at: At | None = None
    timezone: Zone | SkipJsonSchema[None] = None
    paused: bool | SkipJsonSchema[None] = None


NOT_NULL = ("surface", "report_type", "filters", "range", "timezone", "paused")


class Schedule(BaseModel):
    """A stored schedule with its next fire times (local time of its zone)."""

    id: str
    name: str | None
    surface: str
    report_type: str
    format: Format
    filters: dict[str, Any]
    range: Range
    cron: str = Field(description="What fires it (a preset's expression too)")
    preset: Preset | None
    at: str | None
    timezone: str
    paused: bool
    next_runs: list[datetime] = Field(description="The next three fire times; none if paused")
    created_at: str
    updated_at: str


class ScheduleEnvelope(BaseModel):
    """One schedule."""

    data: Schedule
    meta: RequestMeta


class ScheduleList(BaseModel):
    """The account's schedules, oldest first."""

    data: list[Schedule]
    meta: RequestMeta


def _out(found: ScheduleView) -> Schedule:
    row = found.schedule
    return Schedule(
        id=row.id,
        name=row.name,
        surface=row.surface,
        report_type=row.report_type,
        format=row.format,  # type: ignore[arg-type]
        filters=row.filters,
        range=row.range,  # type: ignore[arg-type]
        cron=row.cron,
        preset=row.preset,  # type: ignore[arg-type]
        at=found.at,
        timezone=row.timezone,
        paused=row.paused,
        next_runs=found.next_runs,
        created_at=iso(row.created_at) or "",
        updated_at=iso(row.updated_at) or "",
    )


def _one(request: Request, found: ScheduleView) -> ScheduleEnvelope:
    return ScheduleEnvelope(data=_out(found), meta=RequestMeta(request_id=request_id(request)))


assert set(FORMATS) == set(Format.__args__)  # type: ignore[attr-defined]


@router.post("", status_code=201, response_model=ScheduleEnvelope, summary="Create a schedule")
async def create(body: CreateSchedule, request: Request, admin: AccountAdmin) -> ScheduleEnvelope:
    """Validate it like the export it makes, then schedule it in Prefect."""
    wanted = Definition(**body.model_dump())
    return _one(request, await create_schedule(admin, wanted))


@router.get("", response_model=ScheduleList, summary="List schedules")
async def list_all(request: Request, admin: AccountAdmin) -> ScheduleList:
    """The account's schedules with their next runs."""
    found = await list_schedules(admin)
    return ScheduleList(
        data=[_out(f) for f in found], meta=RequestMeta(request_id=request_id(request))
    )


ONE = error_responses(SHAPE, 404)


@router.get("/{schedule_id}", response_model=ScheduleEnvelope, responses=ONE, summary="Get")
async def get_one(schedule_id: ScheduleId, request: Request, admin: AccountAdmin) -> Any:
    """One schedule of the account."""
    return _one(request, await get_schedule_view(admin, schedule_id))


@router.patch("/{schedule_id}", response_model=ScheduleEnvelope, responses=ONE, summary="Edit")
async def edit(
    schedule_id: ScheduleId, body: EditSchedule, request: Request, admin: AccountAdmin
) -> Any:
    """Change any field; the Prefect schedule follows."""
    changes = body.model_dump(exclude_unset=True)
    for name in NOT_NULL:
        if name in changes and changes[name] is None:
            raise ApiError(400, f"{name} may not be null", field=name)
    return _one(request, await edit_schedule(admin, schedule_id, changes))


@router.post(
    "/{schedule_id}/pause", response_model=ScheduleEnvelope, responses=ONE, summary="Pause"
)
async def pause(schedule_id: ScheduleId, request: Request, admin: AccountAdmin) -> Any:
    """No new runs until resumed (Prefect drops the runs it had scheduled)."""
    return _one(request, await set_paused(admin, schedule_id, True))


@router.post(
    "/{schedule_id}/resume", response_model=ScheduleEnvelope, responses=ONE, summary="Resume"
)
async def resume(schedule_id: ScheduleId, request: Request, admin: AccountAdmin) -> Any:
    """Runs again from its next fire time."""
    return _one(request, await set_paused(admin, schedule_id, False))


@router.delete("/{schedule_id}", status_code=204, responses=ONE, summary="Delete")
async def delete(schedule_id: ScheduleId, admin: AccountAdmin) -> Response:
    """Remove the schedule and its Prefect schedule; the jobs it made stay."""
    await remove_schedule(admin, schedule_id)
    return Response(status_code=204)
