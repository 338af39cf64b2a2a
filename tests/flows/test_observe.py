"""What an operator sees in Prefect, read back through the API of the real server.

The export runs in this process (what a retried flow run does), with logs sent to the API
for it alone: the session turns that off because its server stops before the last flush.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar
from uuid import UUID, uuid4

import pytest
from prefect.artifacts import update_progress_artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowRunFilter,
    FlowRunFilterId,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter
from prefect.events.worker import EventsWorker
from prefect.logging.handlers import APILogWorker
from prefect.settings import PREFECT_LOGGING_TO_API_ENABLED, temporary_settings

from catalog.registry import validate_request
from flows import observe
from flows.observe import artifact_key
from jobstore.store import get_job, init_store, job_engine
from submission.events import REFUSED, ExportEvent, emit_export_event, job_resource_id
from submission.operator_jobs import create_local_job
from tests.factories import DECEMBER

pytestmark = pytest.mark.usefixtures("prefect_server", "demo_source")
T = TypeVar("T")


def _eventually(read: Callable[[], T], done: Callable[[T], bool], seconds: float = 20) -> T:
    deadline = time.monotonic() + seconds
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.3)


@pytest.fixture(scope="module")
def exported() -> Any:
    """One VerifyHuman CSV export of December, run here with its logs sent to the API."""
    from flows.export_report import export_report

    init_store(job_engine())
    request = validate_request("verifyhuman", "full", "csv", DECEMBER)
    job = create_local_job(request, 1, requested_by="test")
    # The session logs warnings only; the run loggers' info lines are what operators read.
    loggers = [logging.getLogger(f"prefect.{name}") for name in ("flow_runs", "task_runs")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.INFO)
    try:
        with temporary_settings({PREFECT_LOGGING_TO_API_ENABLED: True}):
            state = export_report(job.id, return_state=True)
            APILogWorker.drain_all()
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
    EventsWorker.drain_all()
    assert state.is_completed(), state.message
    done = get_job(job_engine(), job.id)
    assert done.state == "succeeded" and done.flow_run_id
    return done


def _logs(flow_run_id: str) -> list[str]:
    with get_client(sync_client=True) as client:
        found = client.read_logs(
            LogFilter(flow_run_id=LogFilterFlowRunId(any_=[UUID(flow_run_id)])), limit=200
        )
    return [log.message for log in found]


def test_every_stage_logs_what_it_did_to_the_flow_run(exported) -> None:
    wanted = ("plan job", "chunk 0000", "merge:", "render csv:", "publish:", "record:")
    messages = _eventually(
        lambda: _logs(exported.flow_run_id),
        lambda found: all(any(m.startswith(w) for m in found) for w in wanted),
    )
    text = "\n".join(messages)
    (plan,) = [m for m in messages if m.startswith("plan job")]
    assert f"{exported.parts_total} chunks" in plan and "one count of rows per day" in plan
    assert f"{exported.rows_estimated} rows estimated" in plan
    chunks = [m for m in messages if m.startswith("chunk ")]
    assert len(chunks) == exported.parts_total
    assert all("rows," in m and "bytes staged in" in m and "first attempt" in m for m in chunks)
    assert f"record: job {exported.id} is now succeeded: {exported.row_count} rows" in text
    assert f"sha256 {exported.sha256}" in text
    assert "seconds per stage: planning" in text


def test_task_runs_have_readable_names_without_suffix(exported) -> None:
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(exported.flow_run_id)]))
        )
    names = sorted(r.name for r in runs)
    extracts = [n for n in names if n.startswith("extract ")]
    assert len(extracts) == exported.parts_total
    assert "extract 0000 2025-12-01.." in extracts[0], extracts[0]
    assert set(names) - set(extracts) == {
        f"plan job {exported.id}",
        "merge",
        "render csv",
        "publish",
        "record",
    }


def test_artifacts_show_progress_and_a_summary_linking_to_the_job(exported) -> None:
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[UUID(exported.flow_run_id)])
            )
        )
    by_key = {a.key: a for a in found}
    progress = by_key[artifact_key(exported.id, "progress")]
    assert progress.type == "progress" and float(progress.data) == 100.0
    summary = by_key[artifact_key(exported.id, "summary")]
    assert summary.type == "markdown"
    text = str(summary.data)
    assert f"/api/reports/exports/{exported.id})" in text  # the job's detail in the API
    assert "/download" not in text and "signature" not in text and "/files/" not in text
    for fact in (exported.sha256, f"{exported.row_count:,}", f"{exported.file_size_bytes:,}"):
        assert fact in text
    assert "Seconds extracting" in text and "verifyhuman" in text and '"env": "live"' in text


def test_the_exports_life_is_emitted_as_events(exported) -> None:
    def read() -> list[Any]:
        with get_client(sync_client=True) as client:
            page = client.read_events(
                EventFilter(
                    event=EventNameFilter(prefix=["report-exports.export."]),
                    resource=EventResourceFilter(id=[job_resource_id(exported.id)]),
                ),
                limit=50,
            )
        return list(page.events)

    events = _eventually(read, lambda found: len(found) >= 3)
    names = {e.event for e in events}
    assert names == {f"report-exports.export.{w}" for w in ("created", "running", "succeeded")}
    done = next(e for e in events if e.event.endswith(".succeeded"))
    roles = {r.role: r.id for r in done.related}
    assert roles["account"] == "report-exports.account.1"
    assert roles["report"] == "report-exports.report.verifyhuman.full"
    assert roles["flow-run"] == f"prefect.flow-run.{exported.flow_run_id}"
    assert done.payload["sha256"] == exported.sha256


def test_a_refused_artifact_or_event_is_counted_not_raised(prefect_server) -> None:
    before = observe.REFUSED_ARTIFACTS["progress"]
    # The real server answers 404: no artifact has this id.
    assert observe._artifact("progress", lambda: update_progress_artifact(uuid4(), 50.0)) is None
    assert observe.REFUSED_ARTIFACTS["progress"] == before + 1
    refused = REFUSED["report-exports.export.failed"]
    assert not emit_export_event(job_engine(), ExportEvent.FAILED, 10**9)  # no such job
    assert REFUSED["report-exports.export.failed"] == refused + 1
