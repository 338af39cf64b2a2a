"""S3 faults during an export: a missing bucket is permanent, a dead endpoint transient.

Either way the job reads failed with a message that says why, and nothing is left behind.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

import pytest

from jobstore.models import ExportJob
from tests.storage.conftest import S3Server, _free_ports, export_job, settings_env

pytestmark = [pytest.mark.s3, pytest.mark.usefixtures("prefect_server", "demo_source")]


def _attempts(job_id: int, task: str) -> int:
    """How often one task of the job ran, once the server has recorded its final state."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    async def read() -> list[Any]:
        async with get_client() as client:
            flow_runs = FlowRunFilter(name=FlowRunFilterName(any_=[f"export job {job_id}"]))
            return await client.read_task_runs(flow_run_filter=flow_runs, limit=50)

    deadline = time.monotonic() + 30  # task runs are recorded from events, a moment late
    while True:
        # Task runs are named "plan job 14", "publish" ... (flows/observe.py)
        runs = [r for r in asyncio.run(read()) if r.name == task or r.name.startswith(f"{task} ")]
        if (runs and runs[0].state and runs[0].state.is_final()) or time.monotonic() > deadline:
            assert len(runs) == 1, f"{task} task runs: {runs}"
            return int(runs[0].run_count)
        time.sleep(0.5)


def _reason_of(job: ExportJob) -> str:
    """What operators read of the failure; clients read only a classified sentence."""
    assert job.state == "failed", f"job {job.id} is {job.state}, expected failed"
    assert job.error_message in {
        "The file could not be stored",
        "The file could not be stored; please try again",
    }, job.error_message
    return job.error_detail or ""


def test_missing_bucket_fails_the_job_clearly_and_writes_nothing(s3_server: S3Server) -> None:
    with settings_env(s3_server.env("s3://no-such-exports-bucket/p")):
        job = export_job()
    reason = _reason_of(job)
    assert "StorageError" in reason and "'no-such-exports-bucket' does not exist" in reason
    buckets = [b["Name"] for b in s3_server.client().list_buckets()["Buckets"]]
    assert "no-such-exports-bucket" not in buckets, "nothing created the bucket"
    assert job.storage_key is None
    assert _attempts(job.id, "plan") == 1, "a missing bucket is permanent: not retried"


def test_unreachable_endpoint_is_retried_then_fails_the_job(s3_server: S3Server) -> None:
    (port,) = _free_ports(1)  # nothing listens there
    prefix = f"unreachable-{secrets.token_hex(3)}"
    env = s3_server.env(f"s3://{s3_server.bucket}/{prefix}")
    env["REPORT_EXPORTS_S3_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    with settings_env(env):
        job = export_job()
    elapsed = time.monotonic() - started
    reason = _reason_of(job)
    assert "TransientStorageError" in reason and "S3 endpoint unreachable" in reason
    assert s3_server.keys(prefix) == []
    assert _attempts(job.id, "plan") == 3, "plan ran once and was retried twice"
    print(f"unreachable S3: job failed after {elapsed:.1f} s")


def test_publish_that_keeps_failing_is_retried_and_leaves_no_object(
    s3_server: S3Server, s3_storage_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Staging works; every upload of the file is cut off (connection reset)."""
    import s3fs

    original = s3fs.S3FileSystem._call_s3
    cut: list[str] = []

    async def reset_exports(self: Any, method: str, *args: Any, **kwargs: Any) -> Any:
        if method == "put_object" and "/exports/" in f"/{kwargs.get('Key', '')}":
            cut.append(kwargs["Key"])
            raise ConnectionResetError("connection reset by peer")
        return await original(self, method, *args, **kwargs)

    monkeypatch.setattr(s3fs.S3FileSystem, "_call_s3", reset_exports)
    job = export_job("verifyhuman", "overview", "csv")
    monkeypatch.undo()
    reason = _reason_of(job)
    assert "TransientStorageError" in reason and "cannot publish exports/" in reason
    assert _attempts(job.id, "publish") == 4, "publish ran once and was retried three times"
    assert len(cut) == 4
    assert s3_server.keys(f"{s3_storage_env}/exports/") == [], "no partial or temporary object"
    assert job.storage_key is None
