"""Storage on a real S3 server (SeaweedFS on loopback, signatures checked).

Objects are checked with a plain botocore client, independent of the s3fs code under test.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from report_exports.errors import StorageError, TransientStorageError
from storage.files import Storage
from storage.s3 import S3Options
from tests.storage.conftest import S3Server

pytestmark = pytest.mark.s3


def s3_storage(server: S3Server, prefix: str, bucket: str | None = None) -> Storage:
    """Storage on the test server at ``s3://bucket/prefix``."""
    options = S3Options(
        endpoint_url=server.endpoint_url,
        access_key_id=server.access_key_id,
        secret_access_key=server.secret_access_key,
        region=server.region,
    )
    return Storage.from_url(f"s3://{bucket or server.bucket}/{prefix}", options)


@pytest.fixture
def prefix() -> str:
    return f"unit-{secrets.token_hex(4)}"


def test_objects_round_trip_under_the_prefix(s3_server: S3Server, prefix: str, tmp_path) -> None:
    storage = s3_storage(s3_server, prefix)
    assert storage.is_s3 and not storage.is_local
    source = tmp_path / "report.csv"
    source.write_bytes(b"a,b\n1,2\n")
    storage.put_atomic(source, "exports/x/report.csv")
    assert storage.exists("exports/x/report.csv")
    assert storage.size("exports/x/report.csv") == 8
    assert storage.read_text("exports/x/report.csv") == "a,b\n1,2\n"
    client = s3_server.client()
    body = client.get_object(Bucket=s3_server.bucket, Key=f"{prefix}/exports/x/report.csv")
    assert body["Body"].read() == b"a,b\n1,2\n"
    assert s3_server.keys(prefix) == [f"{prefix}/exports/x/report.csv"], "no temporary key"
    source.write_bytes(b"bigger file\n" * 10)
    storage.put_atomic(source, "exports/x/report.csv")
    with storage.open_read("exports/x/report.csv") as fh:
        assert fh.read() == source.read_bytes()


def test_polars_reads_staged_parquet_in_key_order(
    s3_server: S3Server, prefix: str, tmp_path
) -> None:
    storage = s3_storage(s3_server, prefix)
    keys = []
    for i in range(3):
        local = tmp_path / f"{i}.parquet"
        pl.DataFrame({"n": [i * 10, i * 10 + 1]}).write_parquet(local)
        keys.append(f"staging/job-1/chunk-{i}/rows.parquet")
        storage.put_atomic(local, keys[-1])
    frame = storage.scan_parquet(list(reversed(keys))).collect()
    assert frame["n"].to_list() == [20, 21, 10, 11, 0, 1]
    assert storage.read_parquet(keys[0])["n"].to_list() == [0, 1]


def test_delete_prefix_list_and_missing_keys(s3_server: S3Server, prefix: str, tmp_path) -> None:
    storage = s3_storage(s3_server, prefix)
    part = tmp_path / "p"
    part.write_text("x")
    for key in ("staging/job-1/a", "staging/job-1/b/c", "staging/job-2/a"):
        storage.put_atomic(part, key)
    assert storage.list_keys("staging") == [
        "staging/job-1/a",
        "staging/job-1/b/c",
        "staging/job-2/a",
    ]
    storage.delete_prefix("staging/job-1")
    assert s3_server.keys(prefix) == [f"{prefix}/staging/job-2/a"]
    storage.delete("staging/job-2/a")
    storage.delete("staging/job-9/nothing")
    storage.delete_prefix("staging/job-9")
    assert storage.list_keys("staging") == [] and s3_server.keys(prefix) == []
    assert not storage.exists("staging/job-2/a")


def test_failed_multipart_upload_leaves_no_object_and_no_parts(
    s3_server: S3Server, prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server fails the upload's completion: nothing visible, the upload aborted."""
    import s3fs

    storage = s3_storage(s3_server, prefix)
    big = tmp_path / "big.csv"
    big.write_bytes(os.urandom(17 << 20))  # > 2 parts of 8 MiB: a multipart upload
    original = s3fs.S3FileSystem._call_s3
    calls: list[str] = []

    async def failing_completion(self: Any, method: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(method)
        if method == "complete_multipart_upload":
            raise OSError("connection reset while completing the upload")
        return await original(self, method, *args, **kwargs)

    monkeypatch.setattr(s3fs.S3FileSystem, "_call_s3", failing_completion)
    with pytest.raises(TransientStorageError, match="cannot publish exports/big.csv"):
        storage.put_atomic(big, "exports/big.csv")
    monkeypatch.undo()
    assert calls.count("upload_part") == 3 and "abort_multipart_upload" in calls
    assert s3_server.keys(prefix) == [], "no object, no temporary key"
    uploads = s3_server.client().list_multipart_uploads(Bucket=s3_server.bucket, Prefix=prefix)
    assert uploads.get("Uploads", []) == [], "the parts were aborted, not left to bill"


def test_large_file_uploads_whole(s3_server: S3Server, prefix: str, tmp_path: Path) -> None:
    storage = s3_storage(s3_server, prefix)
    big = tmp_path / "big.bin"
    data = os.urandom(17 << 20)
    big.write_bytes(data)
    storage.put_atomic(big, "exports/big.bin")
    got = s3_server.client().get_object(Bucket=s3_server.bucket, Key=f"{prefix}/exports/big.bin")
    assert got["Body"].read() == data


def test_missing_bucket_is_a_permanent_error(s3_server: S3Server, tmp_path: Path) -> None:
    storage = s3_storage(s3_server, "p", bucket="no-such-bucket-here")
    part = tmp_path / "p"
    part.write_text("x")
    assert not storage.exists("staging/job-1/plan.json")
    with pytest.raises(StorageError, match="bucket 'no-such-bucket-here' does not exist") as err:
        storage.put_atomic(part, "staging/job-1/plan.json")
    assert not isinstance(err.value, TransientStorageError)


def test_wrong_secret_is_refused_permanently(s3_server: S3Server, tmp_path: Path) -> None:
    options = S3Options(s3_server.endpoint_url, s3_server.access_key_id, "wrong", "us-east-1")
    storage = Storage.from_url(f"s3://{s3_server.bucket}/p", options)
    with pytest.raises(StorageError, match="refused access") as err:
        storage.exists("staging/job-1/plan.json")
    assert not isinstance(err.value, TransientStorageError)


def test_unreachable_endpoint_is_transient() -> None:
    from tests.storage.conftest import _free_ports

    (port,) = _free_ports(1)  # nothing listens there
    options = S3Options(f"http://127.0.0.1:{port}", "key", "secret", "us-east-1")
    storage = Storage.from_url("s3://bucket/p", options)
    with pytest.raises(TransientStorageError, match="unreachable"):
        storage.exists("staging/job-1/plan.json")
