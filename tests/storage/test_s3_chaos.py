"""Chaos on S3: a flow run killed between publish and record leaves no object behind.

A stack of its own (tests/private_stack.py) publishes to a fresh prefix of the session's
SeaweedFS bucket. The run is held at the ``before-record`` failpoint, so its object is in
the bucket and the job row names its key, then SIGKILLed. Read from the job store and the
bucket (a plain botocore client): the job fails within the bound, its object is deleted,
and the identical request makes a new job whose object is there.
"""

from __future__ import annotations

import os
import secrets
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import TEST_VAR
from tests.private_stack import (
    BOUND_SECONDS,
    CHAOS_PERIODS,
    PrivateStack,
    _all_terminal,
    _create,
    _runner_pid,
    private_stack,
    wait,
)
from tests.storage.conftest import S3Server

pytestmark = [pytest.mark.chaos, pytest.mark.slow, pytest.mark.s3]


@pytest.fixture(scope="module")
def s3_chaos(s3_server: S3Server, demo_source: str) -> Iterator[tuple[PrivateStack, str]]:
    prefix = f"chaos-{secrets.token_hex(3)}"
    storage = s3_server.env(f"s3://{s3_server.bucket}/{prefix}")
    with private_stack(TEST_VAR / "s3-chaos", demo_source, **CHAOS_PERIODS, **storage) as stack:
        yield stack, prefix


def _objects(server: S3Server, prefix: str) -> set[str]:
    listed = server.client().list_objects_v2(Bucket=server.bucket, Prefix=f"{prefix}/")
    return {item["Key"] for item in listed.get("Contents", [])}


def _owned(stack: PrivateStack, prefix: str, key: str | None) -> str:
    return f"{prefix}/{key}"


def test_killed_between_publish_and_record_leaves_no_object(
    s3_chaos: tuple[PrivateStack, str], s3_server: S3Server
) -> None:
    stack, prefix = s3_chaos
    armed = stack.arm("before-record")
    job_id = _create(stack, "2025-11-07")
    try:
        pid = _runner_pid(stack, job_id)
        row: Any = wait(
            lambda: (
                (r := stack.row(job_id)).storage_key
                and _owned(stack, prefix, r.storage_key) in _objects(s3_server, prefix)
                and r
            ),
            60,
            "the object to be published",
        )
        os.kill(pid, signal.SIGKILL)
    finally:
        armed.unlink()
    (failed,) = _all_terminal(stack, [job_id])
    assert failed.state == "failed" and failed.error_message.startswith("run crashed"), failed
    published = _owned(stack, prefix, row.storage_key)
    wait(
        lambda: published not in _objects(s3_server, prefix),
        BOUND_SECONDS,
        "the orphan object to be deleted",
    )
    new = _create(stack, "2025-11-07")
    assert new != job_id, "the failed job was handed back instead of a new one"
    (done,) = _all_terminal(stack, [new], bound=120)
    assert done.state == "succeeded", (done.state, done.error_message)
    objects = _objects(s3_server, prefix)
    assert _owned(stack, prefix, done.storage_key) in objects
    # The failed job's staged parts stay (a Retry from the Prefect UI extracts only what is
    # missing) until retention drops them; everything else is the new job's.
    staged = (f"{prefix}/staging/job-{job_id}/", f"{prefix}/staging/job-{new}/")
    unowned = {o for o in objects - {_owned(stack, prefix, done.storage_key)}}
    unowned = {o for o in unowned if not o.startswith(staged)}
    assert not unowned, f"objects no job owns: {sorted(unowned)}"
