"""publish: upload the rendered file under a server-made key, atomically."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import Engine

from jobstore.store import job_engine
from jobstore.transitions import set_pending_file
from report_exports.errors import ExportError
from storage.files import Storage, default_storage, published_key
from tasks.job_context import JobRef, load_context
from tasks.render import RenderedFile
from tasks.retry import retry_on_transient
from tasks.run_log import logged_failure, run_logger


@dataclass(frozen=True)
class PublishedFile:
    """A file visible in storage, with what the job row records about it."""

    storage_key: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    row_count: int


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def publish_file(
    engine: Engine, account_id: int, job_id: int, rendered: RenderedFile, storage: Storage
) -> PublishedFile:
    """Checksum (unless render made it), name the key on the job row, then upload.

    The job row learns the key before the file is visible, so a run killed between
    publish and record leaves a failed job that names its file, which whoever fails it
    deletes (hooks, the reconciler): no published file without a job that knows it.
    """
    local = Path(rendered.path)
    key = published_key(account_id, job_id, rendered.filename)
    published = PublishedFile(
        storage_key=key,
        filename=rendered.filename,
        content_type=rendered.content_type,
        size_bytes=local.stat().st_size,
        sha256=rendered.sha256 or sha256_of(local),
        row_count=rendered.row_count,
    )
    if not set_pending_file(engine, job_id, key):
        raise ExportError(f"job {job_id} is no longer running; not publishing its file")
    storage.put_atomic(local, key, move=True)
    local.unlink(missing_ok=True)
    return published


@task(
    name="publish",
    task_run_name="publish",
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[1, 3, 9],
    retry_condition_fn=retry_on_transient,
)
def publish(job: JobRef, rendered: RenderedFile) -> PublishedFile:
    """Publish the rendered file to storage."""
    ctx = load_context(job.job_id)
    storage = default_storage()
    with logged_failure("publish"):
        published = publish_file(job_engine(), ctx.account_id, job.job_id, rendered, storage)
    run_logger().info(
        "publish: %s (%s bytes, sha256 %s) to %s",
        published.filename,
        published.size_bytes,
        published.sha256,
        storage.url(published.storage_key),
    )
    return published
