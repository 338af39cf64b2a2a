"""``report-exports deploy`` makes the failed-export automation on the real Prefect server."""

from __future__ import annotations

import pytest
from prefect.blocks.webhook import Webhook
from prefect.client.orchestration import get_client
from prefect.events.schemas.events import ResourceSpecification

from deployments.work_pool import FAILED_EXPORT_AUTOMATION, ensure_failed_export_automation

pytestmark = pytest.mark.usefixtures("prefect_server")


def test_the_automation_is_made_only_with_its_webhook_block() -> None:
    assert not ensure_failed_export_automation("no-such-block")
    Webhook(url="https://alerts.example.test/hook").save("test-export-alerts", overwrite=True)
    assert ensure_failed_export_automation("test-export-alerts")
    assert ensure_failed_export_automation("test-export-alerts")  # updated, not doubled
    with get_client(sync_client=True) as client:
        (made,) = client.read_automations_by_name(FAILED_EXPORT_AUTOMATION)
        block = client.read_block_document_by_name("test-export-alerts", "webhook")
    assert made.trigger.expect == {"report-exports.export.failed"}
    assert made.trigger.match_related == ResourceSpecification(
        {"prefect.resource.role": "account", "report-exports.plan": "enterprise"}
    )
    (action,) = made.actions
    assert action.type == "call-webhook" and action.block_document_id == block.id
