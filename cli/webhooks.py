"""``report-exports webhooks``: an account's webhook endpoints and their delivery logs."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Annotated, Any

import typer
from rich.console import Console

app = typer.Typer(
    help="Webhook endpoints of accounts (signed export events).", no_args_is_help=True
)
console = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True)
AccountOption = Annotated[str, typer.Option(help="Account name.")]
JsonOption = Annotated[bool, typer.Option("--json", help="JSON output.")]


@contextmanager
def _refusals() -> Iterator[None]:
    """Bad input and unknown names end the command with exit code 2 and the reason."""
    from report_exports.errors import NotFoundError, ValidationError

    try:
        yield
    except (ValidationError, NotFoundError) as exc:
        err.print(f"[red]error[/]: {exc}")
        raise typer.Exit(2) from None


def _account(name: str) -> tuple[Any, int]:
    from jobstore.accounts import account_by_name
    from jobstore.store import init_store, job_engine

    engine = job_engine()
    init_store(engine)
    return engine, account_by_name(engine, name).id


def _show(rows: Any, as_json: bool, line: Callable[[dict[str, Any]], str]) -> None:
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    for row in rows if isinstance(rows, list) else [rows]:
        console.print(line(row))


def _endpoint_line(row: dict[str, Any]) -> str:
    state = "enabled" if row["enabled"] else f"DISABLED ({row['disabled_reason']})"
    text = f"{row['id']}  {row['url']}  {','.join(row['events'])}  {state}"
    if row.get("description"):
        text += f"  {row['description']}"
    if row.get("secret"):
        text += f"\nsecret (shown once): {row['secret']}"
    if row.get("previous_secret_expires_at"):
        text += f"\nprevious secret also signs until {row['previous_secret_expires_at']}"
    return text


@app.command("add")
def add(
    url: Annotated[str, typer.Argument(help="https:// URL that receives the events.")],
    account: AccountOption,
    event: Annotated[
        list[str] | None,
        typer.Option(help="An event to send (repeat); default: every export.* event."),
    ] = None,
    description: Annotated[str, typer.Option(help="What the endpoint is for.")] = "",
    as_json: JsonOption = False,
) -> None:
    """Register an endpoint; its signing secret is printed once."""
    from jobstore.webhooks import EVENTS
    from submission.webhooks import endpoint_json, register

    with _refusals():
        engine, account_id = _account(account)
        endpoint = register(
            engine, account_id, url=url, events=list(event or EVENTS), description=description
        )
    _show(endpoint_json(endpoint, with_secret=True), as_json, _endpoint_line)


@app.command("list")
def list_(account: AccountOption, as_json: JsonOption = False) -> None:
    """The account's endpoints: URL, events, enabled or why disabled (never the secret)."""
    from jobstore.webhooks import list_endpoints
    from submission.webhooks import endpoint_json

    with _refusals():
        engine, account_id = _account(account)
        rows = [endpoint_json(e) for e in list_endpoints(engine, account_id)]
    _show(rows, as_json, _endpoint_line)


@app.command("remove")
def remove(
    endpoint_id: Annotated[str, typer.Argument(help="The endpoint's id (we_...).")],
    account: AccountOption,
) -> None:
    """Remove an endpoint and its delivery log."""
    from jobstore.webhooks import remove_endpoint

    with _refusals():
        engine, account_id = _account(account)
        remove_endpoint(engine, account_id, endpoint_id)
    console.print(f"endpoint {endpoint_id} removed")


@app.command("rotate-secret")
def rotate(
    endpoint_id: Annotated[str, typer.Argument(help="The endpoint's id (we_...).")],
    account: AccountOption,
    overlap_seconds: Annotated[
        int | None,
        typer.Option(min=0, max=7 * 86_400, help="How long the old secret also signs."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """A new secret (printed once); the old one keeps signing for the overlap."""
    from jobstore.webhooks import rotate_secret
    from report_exports.settings import get_settings
    from submission.webhooks import endpoint_json

    seconds = get_settings().webhook_secret_overlap_seconds
    with _refusals():
        engine, account_id = _account(account)
        endpoint = rotate_secret(
            engine,
            account_id,
            endpoint_id,
            overlap=timedelta(seconds=seconds if overlap_seconds is None else overlap_seconds),
        )
    _show(endpoint_json(endpoint, with_secret=True), as_json, _endpoint_line)


@app.command("enable")
def enable(
    endpoint_id: Annotated[str, typer.Argument(help="The endpoint's id (we_...).")],
    account: AccountOption,
) -> None:
    """Deliver to a disabled endpoint again (events from now on)."""
    from jobstore.webhooks import enable_endpoint

    with _refusals():
        engine, account_id = _account(account)
        enable_endpoint(engine, account_id, endpoint_id)
    console.print(f"endpoint {endpoint_id} enabled")


def _delivery_line(row: dict[str, Any]) -> str:
    text = (
        f"{row['id']}  {row['event']:17} job {row['export_job_id']:<6} {row['state']:9} "
        f"attempts {row['attempts']}  last {row['last_status_code'] or '-'}"
    )
    if row["next_attempt_at"]:
        text += f"  next {row['next_attempt_at']}"
    if row["last_error"]:
        text += f"  ({row['last_error']})"
    return text


@app.command("deliveries")
def deliveries(
    endpoint_id: Annotated[str, typer.Argument(help="The endpoint's id (we_...).")],
    account: AccountOption,
    limit: Annotated[int, typer.Option(min=1, max=500, help="Newest this many.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """The endpoint's delivery log: attempts, response codes, next try."""
    from jobstore.webhooks import deliveries_of
    from submission.webhooks import delivery_json

    with _refusals():
        engine, account_id = _account(account)
        rows = [
            delivery_json(d) for d in deliveries_of(engine, account_id, endpoint_id, limit=limit)
        ]
    _show(rows, as_json, _delivery_line)
