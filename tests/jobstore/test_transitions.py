"""Job state transitions: guarded by the states they may leave, so a finished job stays so."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from jobstore import store, transitions
from jobstore.models import JobState


def _job(engine, **extra):
    return store.create_job(
        engine,
        surface="verifyhuman",
        account_id=1,
        report_type="overview",
        fmt="pdf",
        params={"env": "live"},
        **extra,
    )


def test_job_lifecycle_and_progress(engine) -> None:
    job = _job(engine)
    assert job.state == JobState.QUEUED and uuid.UUID(job.public_id).version == 7
    assert transitions.mark_running(engine, job.id, flow_run_id=None, parts_total=3, parts_done=1)
    transitions.record_part_done(engine, job.id)
    assert store.get_job(engine, job.id).parts_done == 2
    expires = datetime.now(UTC) + timedelta(hours=24)
    assert transitions.mark_succeeded(
        engine,
        job.id,
        row_count=5,
        file_size_bytes=10,
        sha256="0" * 64,
        filename="f.pdf",
        content_type="application/pdf",
        storage_key="k",
        expires_at=expires,
    )
    done = store.get_job(engine, job.id)
    assert done.state == JobState.SUCCEEDED and done.expires_at == expires.replace(
        microsecond=done.expires_at.microsecond
    )
    assert done.created_at.tzinfo is not None


def test_finished_jobs_do_not_change_state(engine) -> None:
    job = _job(engine)
    assert transitions.mark_cancelled(engine, job.id)
    assert not transitions.mark_running(
        engine, job.id, flow_run_id=None, parts_total=1, parts_done=0
    )
    assert not transitions.mark_failed(engine, job.id, "late failure")
    assert store.get_job(engine, job.id).state == JobState.CANCELLED


def test_a_failed_job_may_run_again_when_its_flow_run_is_retried(engine) -> None:
    job = _job(engine)
    transitions.mark_failed(engine, job.id, "boom")
    assert transitions.mark_running(engine, job.id, flow_run_id=None, parts_total=2, parts_done=2)
    again = store.get_job(engine, job.id)
    assert again.state == JobState.RUNNING and again.error_message is None


def test_a_job_belongs_to_the_flow_run_recorded_for_it(engine) -> None:
    job = _job(engine)
    from jobstore.outbox import record_launch

    assert record_launch(engine, job.id, "run-a")
    assert not record_launch(engine, job.id, "run-b"), "a second launcher keeps the first run"
    args = dict(parts_total=1, parts_done=0)
    assert not transitions.mark_running(engine, job.id, flow_run_id="run-b", **args)
    assert transitions.mark_running(engine, job.id, flow_run_id="run-a", **args)
    assert store.get_job(engine, job.id).flow_run_id == "run-a"


def test_failure_keeps_a_client_message_and_an_operator_detail_and_frees_dedupe(engine) -> None:
    job, _ = store.create_job_once(
        engine, surface="webhooks", account_id=1, report_type="message-log", fmt="csv", params={}
    )
    assert store.get_job(engine, job.id).dedupe_key
    detail = "OperationalError: could not connect to server at http://10.0.0.7:5432"
    assert transitions.mark_failed(engine, job.id, "The data source was unavailable", detail)
    failed = store.get_job(engine, job.id)
    assert failed.error_message == "The data source was unavailable"
    assert failed.error_detail == detail and failed.dedupe_key is None
    again, created = store.create_job_once(
        engine, surface="webhooks", account_id=1, report_type="message-log", fmt="csv", params={}
    )
    assert created and again.id != job.id


def test_progress_and_pending_files_touch_running_jobs_only(engine) -> None:
    job = _job(engine)
    assert not transitions.set_pending_file(engine, job.id, "exports/k"), "queued: not yet"
    transitions.mark_running(engine, job.id, flow_run_id=None, parts_total=2, parts_done=0)
    assert transitions.set_pending_file(engine, job.id, "exports/k")
    assert transitions.beat(engine, job.id)
    transitions.mark_failed(engine, job.id, "boom")
    assert not transitions.beat(engine, job.id), "a late heartbeat never revives a failed job"
    assert not transitions.set_progress(engine, job.id, rows_done=5)
    failed = store.get_job(engine, job.id)
    assert failed.state == JobState.FAILED and failed.rows_done == 0
    assert failed.storage_key == "exports/k", "the failed job still names its file"
    assert transitions.forget_file(engine, job.id)
    assert store.get_job(engine, job.id).storage_key is None
