"""``report-exports schedules``: accounts' recurring exports from the command line.

The same service as ``/account/v1/schedules`` (``submission.schedules``), acting as the
account's admin: each schedule is a Prefect schedule of the ``recurring-export``
deployment, so the stack (``report-exports up``) or a deployment
(``report-exports deploy``) must be there to fire it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from report_exports.errors import (
    ForbiddenError,
    NotFoundError,
    ServiceUnavailableError,
    ValidationError,
)
from report_exports.settings import get_settings

app = typer.Typer(help="Recurring exports of accounts (Prefect schedules).", no_args_is_help=True)
console = Console()
err = Console(stderr=True)
T = TypeVar("T")

Account = Annotated[str, typer.Option(help="Account name.")]
ScheduleId = Annotated[str, typer.Argument(help="The schedule's id, as `schedules list` shows.")]


def _admin(account: str) -> Any:
    from jobstore.accounts import account_by_name, principal_for_account
    from jobstore.store import init_store, job_engine

    engine = job_engine()
    init_store(engine)
    return principal_for_account(engine, account_by_name(engine, account).id, "cli")


def _run(call: Any, account: str, *args: Any, prefect: bool = True) -> Any:
    """``call(admin, *args)``; errors printed with their field, exit code 2 (3: Prefect)."""
    try:
        if prefect:
            from deployments.local_server import ensure_prefect_server

            ensure_prefect_server(get_settings())
        result: Awaitable[Any] = call(_admin(account), *args)
        return asyncio.run(result)  # type: ignore[arg-type]
    except ValidationError as exc:
        err.print(f"[red]error[/] ({exc.field or 'request'}): {exc.message}")
        raise typer.Exit(2) from None
    except (ForbiddenError, NotFoundError) as exc:
        err.print(f"[red]error[/]: {exc}")
        raise typer.Exit(2) from None
    except ServiceUnavailableError:
        err.print(
            "[red]error[/]: Prefect or its recurring-export deployment cannot be reached "
            "(start `report-exports up`, or run `report-exports deploy`)"
        )
        raise typer.Exit(3) from None


def _row(found: Any) -> dict[str, Any]:
    row = found.schedule
    return {
        "id": row.id,
        "name": row.name,
        "surface": row.surface,
        "report_type": row.report_type,
        "format": row.format,
        "filters": row.filters,
        "range": row.range,
        "cron": row.cron,
        "preset": row.preset,
        "at": found.at,
        "timezone": row.timezone,
        "paused": row.paused,
        "next_runs": [t.isoformat() for t in found.next_runs],
        "prefect_schedule_id": row.prefect_schedule_id,
    }


def _show(found: Any) -> None:
    row = _row(found)
    when = f"{row['preset']} at {row['at']}" if row["preset"] else f"cron {row['cron']}"
    state = "paused" if row["paused"] else f"next {row['next_runs'][0]}"
    console.print(
        f"{row['id']}  {row['surface']}/{row['report_type']} {row['format']} {row['range']}  "
        f"{when} {row['timezone']}  {state}  {json.dumps(row['filters'])}",
        highlight=False,
        soft_wrap=True,
    )


def _filters(raw: str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        err.print("[red]error[/] (filters): --filters takes a JSON object")
        raise typer.Exit(2)
    return value


@app.command("add")
def add(
    account: Account,
    surface: Annotated[str, typer.Option(help="verifyhuman, hienergy or webhooks.")],
    report: Annotated[str, typer.Option(help="Report type of that surface.")],
    range_: Annotated[str, typer.Option("--range", help="previous-day, previous-week, …")],
    fmt: Annotated[str | None, typer.Option("--format", help="csv, xlsx or pdf.")] = None,
    filters: Annotated[str | None, typer.Option(help='JSON, e.g. \'{"env": "live"}\'.')] = None,
    cron: Annotated[str | None, typer.Option(help="Five-field cron (local time).")] = None,
    preset: Annotated[str | None, typer.Option(help="daily, weekly or monthly.")] = None,
    at: Annotated[str | None, typer.Option(help="A preset's time, HH:MM.")] = None,
    timezone: Annotated[str, typer.Option(help="IANA time zone.")] = "UTC",
    name: Annotated[str | None, typer.Option(help="A label.")] = None,
    paused: Annotated[bool, typer.Option(help="Create it paused.")] = False,
) -> None:
    """Create a recurring export (a Prefect schedule); prints it with its next run."""
    from submission.schedules import Definition, create_schedule

    wanted = Definition(
        surface=surface,
        report_type=report,
        range=range_,
        timezone=timezone,
        format=fmt,
        filters=_filters(filters) or {},
        cron=cron,
        preset=preset,
        at=at,
        name=name,
        paused=paused,
    )
    _show(_run(create_schedule, account, wanted))


@app.command("list")
def list_(
    account: Account,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    """The account's schedules with their next runs."""
    from submission.schedules import list_schedules

    found = _run(list_schedules, account, prefect=False)
    if as_json:
        print(json.dumps([_row(f) for f in found], indent=2))
        return
    for one in found:
        _show(one)


@app.command("edit")
def edit(
    account: Account,
    schedule_id: ScheduleId,
    report: Annotated[str | None, typer.Option(help="Report type.")] = None,
    range_: Annotated[str | None, typer.Option("--range", help="Relative range.")] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="csv, xlsx or pdf.")] = None,
    filters: Annotated[str | None, typer.Option(help="JSON object (replaces).")] = None,
    cron: Annotated[str | None, typer.Option(help="Five-field cron.")] = None,
    preset: Annotated[str | None, typer.Option(help="daily, weekly or monthly.")] = None,
    at: Annotated[str | None, typer.Option(help="A preset's time, HH:MM.")] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA time zone.")] = None,
    name: Annotated[str | None, typer.Option(help="A label.")] = None,
) -> None:
    """Change fields of a schedule; the Prefect schedule follows."""
    from submission.schedules import edit_schedule

    given = {
        "report_type": report,
        "range": range_,
        "format": fmt,
        "filters": _filters(filters),
        "cron": cron,
        "preset": preset,
        "at": at,
        "timezone": timezone,
        "name": name,
    }
    changes = {k: v for k, v in given.items() if v is not None}
    _show(_run(edit_schedule, account, schedule_id, changes))


@app.command("pause")
def pause(account: Account, schedule_id: ScheduleId) -> None:
    """No new runs until resumed."""
    from submission.schedules import set_paused

    _show(_run(set_paused, account, schedule_id, True))


@app.command("resume")
def resume(account: Account, schedule_id: ScheduleId) -> None:
    """Runs again from its next fire time."""
    from submission.schedules import set_paused

    _show(_run(set_paused, account, schedule_id, False))


@app.command("remove")
def remove(account: Account, schedule_id: ScheduleId) -> None:
    """Delete a schedule and its Prefect schedule (its jobs stay)."""
    from submission.schedules import remove_schedule

    _run(remove_schedule, account, schedule_id)
    console.print(f"schedule {schedule_id} removed", highlight=False)


@app.command("sync")
def sync() -> None:
    """Put Prefect's account schedules in step with the job store now."""
    from deployments.local_server import ensure_prefect_server
    from jobstore.store import init_store, job_engine
    from submission.launcher import LaunchError
    from submission.schedules import sync_schedules

    ensure_prefect_server(get_settings())
    init_store(job_engine())
    try:
        report = asyncio.run(sync_schedules())
    except LaunchError as exc:
        err.print(f"[red]error[/]: {exc}")
        raise typer.Exit(3) from None
    console.print(
        f"created {len(report.created)}, updated {len(report.updated)}, "
        f"deleted {len(report.deleted)}"
    )
