"""The job store: lifecycle transitions that cannot lie."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from jobstore import store
from jobstore.models import JobState
from report_exports.database import engine_for
from report_exports.errors import NotFoundError


@pytest.fixture
def engine(tmp_path: Path):
    engine = engine_for(f"sqlite:///{tmp_path / 'jobs.db'}")
    store.init_store(engine)
    return engine


def _job(engine):
    return store.create_job(
        engine,
        surface="verifyhuman",
        account_id=1,
        report_type="overview",
        fmt="pdf",
        params={"env": "live"},
    )


def test_job_lifecycle_and_progress(engine) -> None:
    job = _job(engine)
    assert job.state == JobState.QUEUED and uuid.UUID(job.public_id).version == 7
    assert store.mark_running(engine, job.id, flow_run_id=None, parts_total=3, parts_done=1)
    store.record_part_done(engine, job.id)
    assert store.get_job(engine, job.id).parts_done == 2
    expires = datetime.now(UTC) + timedelta(hours=24)
    assert store.mark_succeeded(
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
    assert store.mark_cancelled(engine, job.id)
    assert not store.mark_running(engine, job.id, flow_run_id=None, parts_total=1, parts_done=0)
    assert not store.mark_failed(engine, job.id, "late failure")
    assert store.get_job(engine, job.id).state == JobState.CANCELLED


def test_a_failed_job_may_run_again_when_its_flow_run_is_retried(engine) -> None:
    job = _job(engine)
    store.mark_failed(engine, job.id, "boom")
    assert store.mark_running(engine, job.id, flow_run_id=None, parts_total=2, parts_done=2)
    again = store.get_job(engine, job.id)
    assert again.state == JobState.RUNNING and again.error_message is None


def test_unknown_job_is_not_found(engine) -> None:
    with pytest.raises(NotFoundError):
        store.get_job(engine, 999)


def test_identical_requests_share_a_fingerprint() -> None:
    one = store.params_fingerprint("verifyhuman", 1, "overview", "pdf", {"a": 1, "b": 2})
    two = store.params_fingerprint("verifyhuman", 1, "overview", "pdf", {"b": 2, "a": 1})
    other = store.params_fingerprint("verifyhuman", 2, "overview", "pdf", {"a": 1, "b": 2})
    assert one == two != other
