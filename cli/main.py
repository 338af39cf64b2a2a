"""The ``report-exports`` command line: exports without the API, demo data, the demo."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from catalog.registry import CATALOGS, ExportRequest, find_report, validate_request
from cli import webhooks
from cli.schedules import app as schedules_app
from report_exports.errors import ValidationError
from report_exports.settings import get_settings
from surfaces.base import Surface
from surfaces.registry import get_surface

if TYPE_CHECKING:
    from cli.stack_run import ServingStack

app = typer.Typer(
    help="Report Exports: reliable background exports as CSV, Excel or PDF.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
err = Console(stderr=True)


def _value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def _pairs(items: list[str], option: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValidationError(f"{option} takes key=value, got {item!r}", field=option)
        out[key] = _value(raw)
    return out


def build_params(
    surface: Surface,
    *,
    date_from: str | None,
    date_to: str | None,
    start_time: str | None,
    end_time: str | None,
    params: list[str],
    search: list[str],
    options: dict[str, str | None],
) -> dict[str, Any]:
    """The request body of the report's surface from command-line options.

    The surface says where its range and filters go (``date_range``) and where its own
    options go (``option_fields``); dates (``--from``/``--to``) or instants
    (``--start-time``/``--end-time``) as its range is kept.
    """
    if surface.date_range.kind == "datetime":
        start, end, other = start_time, end_time, ("from", date_from or date_to)
    else:
        start, end, other = date_from, date_to, ("start_time", start_time or end_time)
    if other[1]:
        option = "--" + other[0].replace("_", "-")
        raise ValidationError(f"{option} does not apply to {surface.title} reports", field=other[0])
    return surface.request_body(
        _pairs(params, "--param"),
        filters=_pairs(search, "--search"),
        options=options,
        start=start,
        end=end,
    )


def _run(request: ExportRequest, account: int, *, local: bool = False) -> None:
    from cli.stack_run import serving_stack

    settings = get_settings()
    # A stack that serves exports takes the job (its own start made the demo source): this
    # process only waits for it.
    if not local and (stack := serving_stack(settings)):
        _export(request, account, stack)
        return
    from demo_data.generate import ensure_demo_source
    from deployments.local_server import ensure_prefect_server, server_running, stop_server

    ensure_demo_source(settings.source_url, settings.demo_rows)
    # A running stack's server (or a configured one) is used and left running; one started
    # here is stopped when the export ends, so the CLI leaves no process behind.
    started = not server_running(settings)
    try:
        with console.status("Connecting to the Prefect server…"):
            api_url = ensure_prefect_server(settings)
        console.print(f"Prefect API: {api_url}")
        _export(request, account, None)
    finally:  # also when the server it started never became healthy
        if started:
            stop_server(settings)


def _export(request: ExportRequest, account: int, stack: ServingStack | None) -> None:
    from cli.local_run import bar_fields, file_location, run_export_locally
    from cli.stack_run import StackGone, run_export_on_stack

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[rows]}"),
        TextColumn("{task.fields[rate]}"),
        TextColumn("{task.fields[eta]}"),
        TextColumn("[dim]{task.fields[stage]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        fields: dict[str, Any] = {"rows": "", "stage": "", "rate": "", "eta": ""}
        task = bar.add_task(f"{request.report.name} → {request.format}", total=None, **fields)

        def progress(job: Any) -> None:
            bar.update(task, **bar_fields(job))

        try:
            if stack is None:
                job = run_export_locally(request, account, on_progress=progress)
            else:
                job = run_export_on_stack(request, account, stack, on_progress=progress)
        except StackGone as gone:
            err.print(
                f"[yellow]The stack stopped serving exports; export job {gone.job.id} is "
                f"{gone.job.state} and goes on when it is back."
            )
            raise typer.Exit(1) from None
    if job.state != "succeeded":
        err.print(f"[red]Export job {job.id} {job.state}: {job.error_message}")
        raise typer.Exit(1)
    console.print(
        f"[green]Export job {job.id} succeeded[/]: {job.row_count:,} rows, "
        f"{job.file_size_bytes:,} bytes, sha256 {(job.sha256 or '')[:12]}…"
    )
    console.print(file_location(job), soft_wrap=True, highlight=False)


@app.command()
def export(
    report: Annotated[
        str, typer.Option(help="Report type, e.g. overview, deals_excel, message-log.")
    ],
    fmt: Annotated[str | None, typer.Option("--format", help="csv, xlsx or pdf.")] = None,
    env: Annotated[str | None, typer.Option(help="VerifyHuman environment: test or live.")] = None,
    date_from: Annotated[str | None, typer.Option("--from", help="Start date YYYY-MM-DD.")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="End date YYYY-MM-DD.")] = None,
    start_time: Annotated[str | None, typer.Option(help="Webhooks: ISO 8601 start.")] = None,
    end_time: Annotated[str | None, typer.Option(help="Webhooks: ISO 8601 end.")] = None,
    param: Annotated[list[str], typer.Option(help="Extra field key=value (JSON values).")] = [],  # noqa: B006
    search: Annotated[list[str], typer.Option(help="HiEnergy search_params key=value.")] = [],  # noqa: B006
    sort: Annotated[str | None, typer.Option(help="HiEnergy index_params sort column.")] = None,
    order: Annotated[str | None, typer.Option(help="HiEnergy sort order: asc or desc.")] = None,
    account: Annotated[int, typer.Option(help="Account that owns the export.")] = 1,
    local: Annotated[
        bool,
        typer.Option(
            "--local", help="Run the flow in this process even when a stack serves exports."
        ),
    ] = False,
) -> None:
    """Run one export through the export-report flow and print where its file is.

    A running stack (``report-exports up``) takes the export, and this command waits for
    it; without one (or with ``--local``) the flow runs in this process.
    """
    try:
        spec = find_report(report)
        body = build_params(
            get_surface(spec.surface),
            date_from=date_from,
            date_to=date_to,
            start_time=start_time,
            end_time=end_time,
            params=param,
            search=search,
            options={"env": env, "sort": sort, "order": order},
        )
        request = validate_request(spec.surface, spec.name, fmt, body)
    except ValidationError as exc:
        err.print(f"[red]error[/] ({exc.field or 'request'}): {exc.message}")
        raise typer.Exit(2) from None
    _run(request, account, local=local)


@app.command()
def reports() -> None:
    """List every report type with its surface and formats."""
    for surface, catalog in CATALOGS.items():
        for name, spec in catalog.items():
            console.print(f"{surface:12} {name:24} {', '.join(spec.formats):10} {spec.description}")


@app.command("demo-data")
def demo_data(
    rows: Annotated[int | None, typer.Option(help="Verification events.")] = None,
    force: Annotated[bool, typer.Option(help="Regenerate even if present.")] = False,
) -> None:
    """Generate the demo source database (if missing, or with --force)."""
    from demo_data.generate import ensure_demo_source, generate

    settings = get_settings()
    count = rows or settings.demo_rows
    if force:
        console.print(generate(settings.source_url, count))
    elif not ensure_demo_source(settings.source_url, count):
        console.print("Demo source already present (use --force to regenerate).")


@app.command()
def demo() -> None:
    """Start the stack, export through each of the three APIs over HTTP, download, stop."""
    from demo_data.accounts import seed_accounts
    from demo_data.generate import ensure_demo_source
    from deployments.demo import run_demo
    from deployments.stack import start_stack

    settings = get_settings()
    with console.status("Preparing demo data…"):
        ensure_demo_source(settings.source_url, settings.demo_rows)
        keys = seed_accounts(_store(), settings.var_dir / "demo-api-keys.json")
    with console.status("Starting the Prefect server, served flows and the API…"):
        stack = start_stack(settings)
    try:
        console.print(f"API {stack.api_url} · Prefect UI {stack.prefect_url.removesuffix('/api')}")
        console.print(f"Page {stack.page_url} (sign in with a key from var/demo-api-keys.json)")
        files = run_demo(stack, keys, settings.var_dir / "demo-downloads", console.print)
        console.print("[green]Downloaded:[/]")
        for path in files:
            console.print(f"  {path}", soft_wrap=True, highlight=False)
    finally:
        stack.stop()
        console.print("Stack stopped.")


accounts_app = typer.Typer(help="Accounts that own exports.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys of accounts.", no_args_is_help=True)
app.add_typer(accounts_app, name="accounts")
app.add_typer(keys_app, name="keys")
app.add_typer(webhooks.app, name="webhooks")
app.add_typer(schedules_app, name="schedules")


def _store() -> Any:
    from jobstore.store import init_store, job_engine

    engine = job_engine()
    init_store(engine)
    return engine


@accounts_app.command("list")
def accounts_list(
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    """Accounts with their plan and project id."""
    from jobstore.accounts import list_accounts

    rows = [
        {"id": a.id, "name": a.name, "plan": a.plan, "project_id": a.project_id}
        for a in list_accounts(_store())
    ]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    for row in rows:
        console.print(f"{row['id']:>4}  {row['name']:20} {row['plan']:11} {row['project_id']}")


@accounts_app.command("create")
def accounts_create(name: str, plan: Annotated[str, typer.Option(help="Plan tier.")]) -> None:
    """Create an account."""
    from jobstore.accounts import create_account

    try:
        account = create_account(_store(), name, plan)
    except ValidationError as exc:
        err.print(f"[red]error[/] ({exc.field}): {exc.message}")
        raise typer.Exit(2) from None
    console.print(
        f"account {account.id} {account.name} ({account.plan}), project {account.project_id}"
    )


@keys_app.command("create")
def keys_create(
    account: Annotated[str, typer.Option(help="Account name.")],
    role: Annotated[str, typer.Option(help="admin or member.")] = "member",
    user: Annotated[str | None, typer.Option(help="User e-mail.")] = None,
) -> None:
    """Create an API key; it is printed once and stored only as a hash."""
    from jobstore.accounts import account_by_name, create_api_key
    from report_exports.errors import NotFoundError

    engine = _store()
    try:
        key = create_api_key(engine, account_by_name(engine, account).id, role, user)
    except (ValidationError, NotFoundError) as exc:
        err.print(f"[red]error[/]: {exc}")
        raise typer.Exit(2) from None
    print(key)


@keys_app.command("list")
def keys_list(
    account: Annotated[str, typer.Option(help="Account name.")],
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    """The account's keys: id, prefix, role, user, created, revoked (never the key)."""
    from jobstore.accounts import account_by_name, list_api_keys
    from report_exports.errors import NotFoundError

    engine = _store()
    try:
        keys = list_api_keys(engine, account_by_name(engine, account).id)
    except NotFoundError as exc:
        err.print(f"[red]error[/]: {exc}")
        raise typer.Exit(2) from None
    rows = [_key_row(k) for k in keys]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    for row in rows:
        console.print(
            f"{row['id']:>4}  {row['prefix']:13} {row['role']:7} {row['user'] or '-':28} "
            f"{row['created']}  {'revoked ' + row['revoked'] if row['revoked'] else 'active'}",
            highlight=False,
            soft_wrap=True,
        )


@keys_app.command("revoke")
def keys_revoke(
    key: Annotated[str, typer.Argument(help="The key's id or prefix, as `keys list` shows.")],
    account: Annotated[str | None, typer.Option(help="Only this account's keys.")] = None,
) -> None:
    """Revoke an API key: it stops authenticating on every surface at once."""
    from jobstore.accounts import account_by_name, revoke_api_key
    from report_exports.errors import NotFoundError

    engine = _store()
    try:
        owner = account_by_name(engine, account).id if account else None
        row = _key_row(revoke_api_key(engine, key, account_id=owner))
    except (ValidationError, NotFoundError) as exc:
        err.print(f"[red]error[/]: {exc}")
        raise typer.Exit(2) from None
    console.print(
        f"key {row['id']} ({row['prefix']}, {row['role']}) revoked at {row['revoked']}",
        highlight=False,
        soft_wrap=True,
    )


def _key_row(key: Any) -> dict[str, Any]:
    return {
        "id": key.id,
        "prefix": key.prefix,
        "role": key.role,
        "user": key.user_email,
        "created": key.created_at.isoformat(timespec="seconds"),
        "revoked": key.revoked_at.isoformat(timespec="seconds") if key.revoked_at else None,
    }


@app.command()
def up() -> None:
    """Start the Prefect server, the served flows and the API; Ctrl-C stops them."""
    import signal
    import time

    from demo_data.accounts import seed_accounts
    from demo_data.generate import ensure_demo_source
    from deployments.stack import start_stack

    settings = get_settings()
    ensure_demo_source(settings.source_url, settings.demo_rows)
    keys = seed_accounts(_store(), settings.var_dir / "demo-api-keys.json")
    with console.status("Starting the Prefect server, served flows and the API…"):
        stack = start_stack(settings)
    console.print(f"API:        {stack.api_url}  (OpenAPI: {stack.api_url}/docs)")
    console.print(f"Prefect UI: {stack.prefect_url.removesuffix('/api')}")
    console.print(f"Page:       {stack.page_url}  (sign in with an API key below)")
    console.print("Demo API keys (account / role / key):")
    for name, roles in keys.items():
        for role, key in roles.items():
            console.print(f"  {name:9} {role:6} {key}", highlight=False)
    console.print("Press Ctrl-C to stop.")

    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    # Explicit handlers: a SIGINT ignored by a parent shell, or a SIGTERM, still stops us.
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    try:
        while all(p.poll() is None for p in stack.processes):
            time.sleep(1)
        err.print("[red]a process of the stack exited; see var/log/")
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
        console.print("Stopped.")


@app.command("prefect-server")
def prefect_server(stop: Annotated[bool, typer.Option(help="Stop it instead.")] = False) -> None:
    """Start (or stop) the local Prefect server under var/."""
    from deployments.local_server import ensure_prefect_server, stop_server

    if stop:
        console.print("stopped" if stop_server() else "no server of ours was running")
    else:
        console.print(ensure_prefect_server())


if __name__ == "__main__":
    app()


@app.command()
def deploy() -> None:
    """Production path: work pool, crash detection and `prefect deploy --all` (prefect.yaml).

    Then run `prefect worker start --pool report-exports` on each worker machine.
    """
    from deployments.local_server import ensure_prefect_server
    from deployments.work_pool import WORK_POOL, deploy

    settings = get_settings()
    console.print(f"Prefect API: {ensure_prefect_server(settings)}")
    deploy(settings)
    console.print(
        f"Deployed. Start workers with: prefect worker start --pool {WORK_POOL}\n"
        f"Crash detection: runs silent for {settings.crash_after_seconds} s are marked Crashed."
    )
