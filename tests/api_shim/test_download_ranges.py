"""Downloads resume and cache correctly on every download path, over HTTP on the stack.

Files are made by the real flow (a VerifyHuman row CSV, a webhook CSV, a HiEnergy Excel
file) and read back through the VerifyHuman and webhooks download endpoints and the signed
``/files/`` URL: ranges joined again make the file (its sha256 as recorded), gzip is
decoded by Python's own ``gzip`` module, validators answer 304 and If-Range.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass

import httpx
import pytest

from jobstore.models import ExportJob
from tests.api_shim.http_checks import HE, HTTP_TIMEOUT, VH, WH, expect_error
from tests.factories import DECEMBER, run_export

IDENTITY = {"Accept-Encoding": "identity"}


@dataclass(frozen=True)
class Download:
    """One download path of one job: where, with which headers, and the job row."""

    url: str
    headers: dict[str, str]
    job: ExportJob

    def get(self, **headers: str) -> httpx.Response:
        sent = {**IDENTITY, **self.headers, **headers}
        return httpx.get(self.url, headers=sent, timeout=HTTP_TIMEOUT)


@pytest.fixture(scope="module")
def downloads(stack) -> dict[str, Download]:
    """A file on each download path (the jobs are account acme's, made by the real flow)."""
    vh_job, _ = run_export("verifyhuman", "full-v21", "csv", DECEMBER)
    window = {"start_time": "2025-12-01T00:00:00Z", "end_time": "2025-12-02T23:59:59Z"}
    wh_job, _ = run_export("webhooks", "message-log", "csv", window)
    he_job, _ = run_export("hienergy", "deals_excel", None, {"search_params": {}})
    key = stack.keys["acme"]["admin"]
    bearer = {"Authorization": f"Bearer {key}"}
    he = httpx.get(f"{stack.base_url}{HE}/{he_job.id}", headers={"X-Api-Key": key}, timeout=60)
    signed = he.json()["export"]["download_url"]
    assert signed.startswith(f"{stack.base_url}/files/"), signed
    return {
        "verifyhuman": Download(f"{stack.base_url}{VH}/{vh_job.id}/download", bearer, vh_job),
        "webhooks": Download(f"{stack.base_url}{WH}/{wh_job.public_id}/download", bearer, wh_job),
        "signed": Download(signed, {}, he_job),
    }


PATHS = ["verifyhuman", "webhooks", "signed"]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("path", PATHS)
def test_whole_file_carries_validators_and_cache_control(
    downloads: dict[str, Download], path: str
) -> None:
    d = downloads[path]
    whole = d.get()
    assert whole.status_code == 200, whole.text
    assert sha256(whole.content) == d.job.sha256 and len(whole.content) == d.job.file_size_bytes
    assert whole.headers["etag"] == f'"{d.job.sha256}"'
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["cache-control"] == "private, no-store"
    assert whole.headers["x-content-type-options"] == "nosniff"
    assert int(whole.headers["content-length"]) == d.job.file_size_bytes
    assert "content-encoding" not in whole.headers
    assert ("vary" in whole.headers) is (d.job.format == "csv")


@pytest.mark.parametrize("path", PATHS)
def test_ranges_join_to_the_whole_file(downloads: dict[str, Download], path: str) -> None:
    d = downloads[path]
    size = d.job.file_size_bytes
    assert size is not None and size > 1000, size
    a, b = size // 3, 2 * size // 3
    pieces = []
    for header, first, last in (
        (f"bytes=0-{a - 1}", 0, a - 1),
        (f"bytes={a}-{b - 1}", a, b - 1),
        (f"bytes=-{size - b}", b, size - 1),  # a suffix: the rest
    ):
        part = d.get(Range=header, **{"Accept-Encoding": "gzip"})  # a range is never gzipped
        assert part.status_code == 206, (header, part.status_code, part.text[:200])
        assert part.headers["content-range"] == f"bytes {first}-{last}/{size}"
        assert int(part.headers["content-length"]) == len(part.content) == last - first + 1
        assert part.headers["etag"] == f'"{d.job.sha256}"'
        assert part.headers["cache-control"] == "private, no-store"
        assert "content-encoding" not in part.headers
        pieces.append(part.content)
    assert sha256(b"".join(pieces)) == d.job.sha256
    tail = d.get(Range=f"bytes={size - 10}-")
    assert tail.status_code == 206 and tail.content == pieces[-1][-10:]
    clamped = d.get(Range=f"bytes={size - 5}-{size + 1000}")
    assert clamped.headers["content-range"] == f"bytes {size - 5}-{size - 1}/{size}"


@pytest.mark.parametrize("path", PATHS)
def test_unsatisfiable_range_is_416_in_the_surface_shape(
    downloads: dict[str, Download], path: str
) -> None:
    d = downloads[path]
    size = d.job.file_size_bytes
    assert size is not None
    for header in (f"bytes={size}-", f"bytes={size + 5}-{size + 9}", "bytes=-0"):
        response = d.get(Range=header)
        expect_error(response, 416, "range not satisfiable")
        assert response.headers["content-range"] == f"bytes */{size}"


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    "header", ["bytes=abc", "bytes=9-3", "items=0-1", "bytes=0-1,4-5", "bytes", "bytes=--1"]
)
def test_malformed_range_is_ignored(downloads: dict[str, Download], path: str, header: str) -> None:
    d = downloads[path]
    response = d.get(Range=header)
    assert response.status_code == 200 and sha256(response.content) == d.job.sha256


@pytest.mark.parametrize("path", PATHS)
def test_if_range_and_if_none_match(downloads: dict[str, Download], path: str) -> None:
    d = downloads[path]
    etag = f'"{d.job.sha256}"'
    held = d.get(Range="bytes=0-9", **{"If-Range": etag})
    assert held.status_code == 206 and len(held.content) == 10
    for stale in ('"0000"', f"W/{etag}", "Wed, 02 Dec 2026 10:00:00 GMT"):
        changed = d.get(Range="bytes=0-9", **{"If-Range": stale})
        assert changed.status_code == 200, stale
        assert sha256(changed.content) == d.job.sha256

    for holding in (etag, f'"other", {etag}', f"W/{etag}", "*"):
        cached = d.get(**{"If-None-Match": holding})
        assert cached.status_code == 304, holding
        assert cached.content == b""
        assert cached.headers["etag"] == etag
        assert cached.headers["cache-control"] == "private, no-store"
    assert d.get(**{"If-None-Match": '"other"'}).status_code == 200


@pytest.mark.parametrize("path", ["verifyhuman", "webhooks"])
def test_csv_gzip_transfer_decodes_to_the_file(downloads: dict[str, Download], path: str) -> None:
    d = downloads[path]
    headers = {**d.headers, "Accept-Encoding": "gzip"}
    with httpx.stream("GET", d.url, headers=headers, timeout=HTTP_TIMEOUT) as response:
        assert response.status_code == 200
        raw = b"".join(response.iter_raw())  # as sent: not decoded by httpx
        assert response.headers["content-encoding"] == "gzip"
        assert response.headers["vary"] == "Accept-Encoding"
        assert response.headers["etag"] == f'W/"{d.job.sha256}"'  # other bytes: a weak tag
        assert response.headers["cache-control"] == "private, no-store"
        assert "content-length" not in response.headers
    assert raw[:2] == b"\x1f\x8b" and len(raw) < (d.job.file_size_bytes or 0)
    assert sha256(gzip.decompress(raw)) == d.job.sha256
    # A range asked with the gzip answer's tag must not be served from the plain bytes.
    resumed = d.get(Range="bytes=0-9", **{"If-Range": response.headers["etag"]})
    assert resumed.status_code == 200
    refused = d.get(**{"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers and refused.status_code == 200
    again = d.get(**{"Accept-Encoding": "gzip", "If-None-Match": response.headers["etag"]})
    assert again.status_code == 304 and again.headers["etag"] == response.headers["etag"]


def test_excel_is_never_gzipped(downloads: dict[str, Download]) -> None:
    d = downloads["signed"]
    response = d.get(**{"Accept-Encoding": "gzip"})
    assert response.status_code == 200 and "content-encoding" not in response.headers
    assert "vary" not in response.headers and sha256(response.content) == d.job.sha256
