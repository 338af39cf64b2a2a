"""Downloads when files live on S3: presigned GET URLs, and the API answering over HTTP.

Two jobs are exported once for the module through the real flow onto the test S3 server.
The API runs as its own process with the same S3 settings; it only reads jobs and serves
downloads here, so no runner of this module competes with the session's served stack.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from api_shim.downloads import content_disposition, signed_url
from jobstore.models import ExportJob
from report_exports.settings import get_settings
from storage.files import default_storage
from tests.conftest import TEST_VAR
from tests.storage.conftest import S3Server, _free_ports, export_job, settings_env

pytestmark = pytest.mark.s3


@dataclass(frozen=True)
class S3Exports:
    """Jobs published on S3 and the prefix they live under."""

    overview: ExportJob  # VerifyHuman CSV
    advertisers: ExportJob  # HiEnergy CSV
    prefix: str


@pytest.fixture(scope="module")
def s3_exports(s3_server: S3Server, prefect_server: str, demo_source: str) -> Iterator[S3Exports]:
    """The module's settings point at S3; two exports are published there."""
    prefix = f"downloads-{secrets.token_hex(3)}"
    with settings_env(s3_server.env(f"s3://{s3_server.bucket}/{prefix}")):
        overview = export_job("verifyhuman", "overview", "csv")
        advertisers = export_job("hienergy", "advertisers_csv", None)
        assert overview.state == advertisers.state == "succeeded"
        yield S3Exports(overview, advertisers, prefix)


def stored_bytes(server: S3Server, exports: S3Exports, job: ExportJob) -> bytes:
    return server.object_bytes(f"{exports.prefix}/{job.storage_key}")


def with_query(url: str, **changes: str) -> str:
    """The URL with some query parameters replaced (signature left as it was)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_presigned_url_downloads_the_exact_bytes_with_the_filename(
    s3_server: S3Server, s3_exports: S3Exports
) -> None:
    job = s3_exports.overview
    url, lifetime = signed_url(job)
    assert url.startswith(f"{s3_server.endpoint_url}/{s3_server.bucket}/{s3_exports.prefix}/")
    query = dict(parse_qsl(urlsplit(url).query))
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"  # SigV4
    assert query["X-Amz-Expires"] == str(lifetime) == "3600"  # the default TTL
    assert query["X-Amz-Credential"].startswith(f"{s3_server.access_key_id}/")
    response = httpx.get(url, timeout=30)
    assert response.status_code == 200, response.text
    assert response.content == stored_bytes(s3_server, s3_exports, job)
    assert hashlib.sha256(response.content).hexdigest() == job.sha256
    assert response.headers["content-disposition"] == content_disposition(job.filename or "")
    assert job.filename and f'filename="{job.filename}"' in response.headers["content-disposition"]
    assert response.headers["content-type"].startswith("text/csv")


def test_tampered_presigned_urls_are_refused(s3_exports: S3Exports) -> None:
    url, _ = signed_url(s3_exports.overview)
    other, _ = signed_url(s3_exports.advertisers)
    signature = dict(parse_qsl(urlsplit(url).query))["X-Amz-Signature"]
    flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    other_path = urlsplit(other).path
    tampered = {
        "signature": with_query(url, **{"X-Amz-Signature": flipped}),
        "key": urlunsplit(urlsplit(url)._replace(path=other_path)),
        "filename": with_query(
            url, **{"response-content-disposition": 'attachment; filename="invoice.exe"'}
        ),
        "content type": with_query(url, **{"response-content-type": "text/html"}),
        "lifetime": with_query(url, **{"X-Amz-Expires": "604800"}),
        "unsigned": urlunsplit(urlsplit(url)._replace(query="")),
    }
    assert httpx.get(url, timeout=30).status_code == 200
    for what, bad in tampered.items():
        response = httpx.get(bad, timeout=30)
        assert response.status_code == 403, f"{what}: {response.status_code}"
        assert b"invoice" not in response.content and len(response.content) < 2000


def test_presigned_url_expires(s3_exports: S3Exports, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPORT_EXPORTS_DOWNLOAD_TTL_SECONDS", "2")
    get_settings.cache_clear()
    url, lifetime = signed_url(s3_exports.overview)
    assert lifetime == 2
    assert httpx.get(url, timeout=30).status_code == 200
    time.sleep(3.5)
    expired = httpx.get(url, timeout=30)
    assert expired.status_code == 403 and b"expired" in expired.content
    monkeypatch.undo()
    get_settings.cache_clear()


def test_presigned_url_never_outlives_retention(s3_exports: S3Exports) -> None:
    soon = replace_expiry(s3_exports.overview, timedelta(seconds=90))
    url, lifetime = signed_url(soon)
    assert 85 <= lifetime <= 90
    assert dict(parse_qsl(urlsplit(url).query))["X-Amz-Expires"] == str(lifetime)


def replace_expiry(job: ExportJob, left: timedelta) -> ExportJob:
    """A detached copy of the job row whose file expires ``left`` from now."""
    copy = ExportJob(**{c.name: getattr(job, c.name) for c in ExportJob.__table__.columns})
    copy.expires_at = datetime.now(UTC) + left
    return copy


def test_presigned_url_carries_a_non_ascii_filename(s3_exports: S3Exports) -> None:
    job = s3_exports.overview
    assert job.storage_key is not None
    name = "Übersicht März 2025 — “final”.csv"
    url = default_storage().presigned_url(
        job.storage_key, 60, content_disposition=content_disposition(name), content_type="text/csv"
    )
    assert url is not None
    header = httpx.get(url, timeout=30).headers["content-disposition"]
    match = re.search(r"filename\*=UTF-8''(\S+)", header)
    assert match and unquote(match.group(1)) == name
    assert header.isascii()


@dataclass(frozen=True)
class Api:
    base_url: str
    keys: dict[str, dict[str, str]]


def _start_api(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    from deployments.stack import wait_for_api

    (port,) = _free_ports(1)
    args = [sys.executable, "-m", "uvicorn", "api_shim.app:create_app", "--factory"]
    args += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    with log.open("ab") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_api(url)
    except BaseException:
        process.terminate()
        raise
    return process, url


@pytest.fixture(scope="module")
def s3_apis(s3_server: S3Server, s3_exports: S3Exports) -> Iterator[tuple[Api, Api]]:
    """The API on the module's S3 storage, and one whose S3 endpoint does not answer."""
    from demo_data.accounts import seed_accounts
    from jobstore.store import job_engine

    keys = seed_accounts(job_engine(), TEST_VAR / "demo-api-keys.json")
    env = {**os.environ, **s3_server.env(f"s3://{s3_server.bucket}/{s3_exports.prefix}")}
    (dead_port,) = _free_ports(1)
    dead = {**env, "REPORT_EXPORTS_S3_ENDPOINT_URL": f"http://127.0.0.1:{dead_port}"}
    log = TEST_VAR / "log" / "api-s3.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    processes = []
    try:
        live, live_url = _start_api(env, log)
        processes.append(live)
        down, down_url = _start_api(dead, log)
        processes.append(down)
        yield Api(live_url, keys), Api(down_url, keys)
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=20)


def test_api_hands_out_presigned_urls_and_streams_downloads_from_s3(
    s3_server: S3Server, s3_exports: S3Exports, s3_apis: tuple[Api, Api]
) -> None:
    api, _ = s3_apis
    key = api.keys["acme"]["admin"]
    he = httpx.get(
        f"{api.base_url}/api/v1/exports/{s3_exports.advertisers.id}",
        headers={"x-api-key": key},
        timeout=30,
    )
    assert he.status_code == 200, he.text
    export = he.json()["export"]
    assert export["status"] == "completed"
    assert export["download_url"].startswith(f"{s3_server.endpoint_url}/{s3_server.bucket}/")
    assert "X-Amz-Signature=" in export["download_url"]
    assert 3500 <= export["download_expires_in_seconds"] <= 3600
    file = httpx.get(export["download_url"], timeout=30)  # no API key: the URL is the grant
    assert file.status_code == 200
    assert file.content == stored_bytes(s3_server, s3_exports, s3_exports.advertisers)
    assert export["filename"] in file.headers["content-disposition"]

    vh = httpx.get(
        f"{api.base_url}/api/reports/exports/{s3_exports.overview.id}/download",
        headers={"authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert vh.status_code == 200, "streamed, as the seed documents (curl -O, no redirect)"
    assert vh.content == stored_bytes(s3_server, s3_exports, s3_exports.overview)
    assert vh.headers["content-disposition"] == content_disposition(
        s3_exports.overview.filename or ""
    )


def test_api_answers_503_in_each_shape_when_s3_is_down(
    s3_exports: S3Exports, s3_apis: tuple[Api, Api]
) -> None:
    _, down = s3_apis
    key = down.keys["acme"]["admin"]
    vh = httpx.get(
        f"{down.base_url}/api/reports/exports/{s3_exports.overview.id}",
        headers={"authorization": f"Bearer {key}"},
        timeout=60,
    )
    assert vh.status_code == 503, vh.text
    assert vh.json() == {"error": "Export storage temporarily unavailable; try again shortly"}
    he = httpx.get(
        f"{down.base_url}/api/v1/exports/{s3_exports.advertisers.id}",
        headers={"x-api-key": key},
        timeout=60,
    )
    assert he.status_code == 503, he.text
    assert he.json()["error"]["code"] == "SERVICE_UNAVAILABLE"


def test_a_short_range_fetches_only_its_bytes_from_s3(
    s3_server: S3Server, s3_exports: S3Exports
) -> None:
    size, offset, length = 9 << 20, 5 << 20, 100
    data = secrets.token_bytes(size)
    key = f"ranges/{secrets.token_hex(4)}.bin"
    s3_server.client().put_object(
        Bucket=s3_server.bucket, Key=f"{s3_exports.prefix}/{key}", Body=data
    )
    storage = default_storage()
    with storage.open_read(key, block_size=length) as handle:
        handle.seek(offset)
        assert handle.read(length) == data[offset : offset + length]
        fetched = handle.cache.total_requested_bytes  # type: ignore[attr-defined]
    assert length <= fetched <= 2 * length, fetched  # ranged GETs, not the 9 MiB object
    with storage.open_read(key) as handle:  # streaming reads: blocks of READ_BLOCK_BYTES
        handle.seek(offset)
        handle.read(length)
        assert handle.cache.total_requested_bytes < size  # type: ignore[attr-defined]


def test_api_serves_ranges_validators_and_gzip_from_s3(
    s3_server: S3Server, s3_exports: S3Exports, s3_apis: tuple[Api, Api]
) -> None:
    import gzip

    api, _ = s3_apis
    job = s3_exports.overview
    url = f"{api.base_url}/api/reports/exports/{job.id}/download"
    auth = {"authorization": f"Bearer {api.keys['acme']['admin']}", "accept-encoding": "identity"}
    stored = stored_bytes(s3_server, s3_exports, job)
    size = len(stored)
    assert size == job.file_size_bytes and size > 3
    cut = size // 2
    pieces = []
    for header, expected in ((f"bytes=0-{cut - 1}", f"0-{cut - 1}"), (f"bytes={cut}-", None)):
        part = httpx.get(url, headers={**auth, "range": header}, timeout=30)
        assert part.status_code == 206, part.text
        assert part.headers["content-range"] == f"bytes {expected or f'{cut}-{size - 1}'}/{size}"
        assert part.headers["etag"] == f'"{job.sha256}"'
        assert part.headers["cache-control"] == "private, no-store"
        pieces.append(part.content)
    assert hashlib.sha256(b"".join(pieces)).hexdigest() == job.sha256
    beyond = httpx.get(url, headers={**auth, "range": f"bytes={size}-"}, timeout=30)
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{size}"
    assert beyond.json() == {"error": "Requested range not satisfiable"}
    held = httpx.get(url, headers={**auth, "if-none-match": f'"{job.sha256}"'}, timeout=30)
    assert held.status_code == 304 and held.content == b""
    gz = {**auth, "accept-encoding": "gzip"}
    with httpx.stream("GET", url, headers=gz, timeout=30) as response:
        raw = b"".join(response.iter_raw())
        assert response.headers["content-encoding"] == "gzip"
    assert gzip.decompress(raw) == stored


def test_presigned_urls_answer_ranges_and_are_not_cached(s3_exports: S3Exports) -> None:
    url, _ = signed_url(s3_exports.advertisers)
    part = httpx.get(url, headers={"range": "bytes=0-9"}, timeout=30)
    assert part.status_code == 206 and len(part.content) == 10
    assert part.headers["content-range"].startswith("bytes 0-9/")
    assert part.headers["cache-control"] == "private, no-store"
