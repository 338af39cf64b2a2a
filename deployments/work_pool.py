"""The deployment step of the production path: ``report-exports deploy``.

1. the process work pool of ``prefect.yaml`` (made if missing);
2. crash detection: an automation that marks a Running flow run Crashed when its
   heartbeats stop (a self-hosted server does not notice a lost worker by itself);
3. ``prefect deploy --all`` from the project root (export-report, cleanup-expired and
   the recurring exports declared in ``prefect.yaml``);
4. the accounts' schedules put in step on the ``recurring-export`` deployment.

Every step is idempotent: run it again after changing ``prefect.yaml``.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from report_exports.settings import PROJECT_ROOT, Settings

WORK_POOL = "report-exports"  # as in prefect.yaml
CRASH_AUTOMATION = "report-exports: crash flow runs without heartbeats"
TERMINAL_EVENTS = [
    "prefect.flow-run.Completed",
    "prefect.flow-run.Failed",
    "prefect.flow-run.Cancelled",
    "prefect.flow-run.Crashed",
]


def crash_message(after_seconds: int) -> str:
    """The state message of a run the automation marks Crashed."""
    return f"no heartbeat for {after_seconds} s: the worker or the flow-run process was lost"


def ensure_work_pool(name: str = WORK_POOL) -> bool:
    """Create the process work pool unless it exists; True when it was created."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists

    with get_client(sync_client=True) as client:
        try:
            client.create_work_pool(WorkPoolCreate(name=name, type="process"))
        except ObjectAlreadyExists:
            return False
    return True


def ensure_crash_automation(after_seconds: int) -> None:
    """Create or update the automation that marks silent Running flow runs Crashed."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture

    automation = AutomationCore(
        name=CRASH_AUTOMATION,
        description="Flow runs report heartbeats (prefect.yaml sets the frequency); a run "
        "that stops reporting without finishing lost its worker or process.",
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.heartbeat", *TERMINAL_EVENTS},
            match={"prefect.resource.id": ["prefect.flow-run.*"]},
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=after_seconds),
        ),
        actions=[ChangeFlowRunState(state=StateType.CRASHED, message=crash_message(after_seconds))],
    )
    with get_client(sync_client=True) as client:
        existing = client.read_automations_by_name(CRASH_AUTOMATION)
        if existing and existing[0].id is not None:
            client.update_automation(existing[0].id, automation)
        else:
            client.create_automation(automation)


FAILED_EXPORT_AUTOMATION = "report-exports: enterprise export failed"
ALERT_WEBHOOK_BLOCK = "export-alerts"
"""The webhook block the failed-export automation calls (made by operators, in the UI)."""


def failed_export_automation(block_document_id: Any) -> Any:
    """A failed export of an Enterprise account calls the alerts webhook block."""
    from prefect.events.actions import CallWebhook
    from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture

    return AutomationCore(
        name=FAILED_EXPORT_AUTOMATION,
        description="Built on the report-exports.export.* events (submission/events.py).",
        trigger=EventTrigger(
            expect={"report-exports.export.failed"},
            match_related={"prefect.resource.role": "account", "report-exports.plan": "enterprise"},
            posture=Posture.Reactive,
            threshold=1,
        ),
        actions=[
            CallWebhook(
                block_document_id=block_document_id,
                payload='{"job": "{{ event.resource.id }}", "error": "{{ event.payload.error }}"}',
            )
        ],
    )


def ensure_failed_export_automation(block_name: str = ALERT_WEBHOOK_BLOCK) -> bool:
    """Create or update the failed-export automation; False when the block does not exist."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            block = client.read_block_document_by_name(block_name, block_type_slug="webhook")
        except ObjectNotFound:
            return False
        automation = failed_export_automation(block.id)
        existing = client.read_automations_by_name(FAILED_EXPORT_AUTOMATION)
        if existing and existing[0].id is not None:
            client.update_automation(existing[0].id, automation)
        else:
            client.create_automation(automation)
    return True


def deploy_all(env: dict[str, str] | None = None, project: Path = PROJECT_ROOT) -> None:
    """``prefect deploy --all`` from the project root (non-interactive)."""
    prefect = Path(sys.executable).with_name("prefect")
    subprocess.run(
        [str(prefect), "--no-prompt", "deploy", "--all"], cwd=project, env=env, check=True
    )


def deploy(settings: Settings, env: dict[str, str] | None = None) -> None:
    """The whole deployment step (the environment must point at the Prefect server)."""
    import asyncio

    from submission.schedules import sync_schedules

    ensure_work_pool()
    ensure_crash_automation(settings.crash_after_seconds)
    if not ensure_failed_export_automation():
        print(f"no webhook block {ALERT_WEBHOOK_BLOCK!r}: failed-export automation not made")
    deploy_all(env)
    asyncio.run(sync_schedules())
