"""Signed, expiring download URLs for files in local storage, and the file response."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import lru_cache
from urllib.parse import quote

from fastapi.responses import StreamingResponse

from jobstore.models import ExportJob
from report_exports.settings import get_settings
from storage.files import default_storage


@lru_cache
def signing_key() -> bytes:
    """The HMAC key: the setting, or a random key created once under var/."""
    settings = get_settings()
    if settings.download_secret:
        return settings.download_secret.encode()
    path = settings.var_dir / "download-secret"
    if not path.exists():
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def _signature(public_id: str, expires: int) -> str:
    message = f"{public_id}:{expires}".encode()
    return hmac.new(signing_key(), message, hashlib.sha256).hexdigest()


def url_lifetime(job: ExportJob, now: datetime | None = None) -> int:
    """Seconds a new download URL lives: the default TTL, never past the file's retention."""
    now = now or datetime.now(UTC)
    ttl = get_settings().download_ttl_seconds
    if job.expires_at is not None:
        ttl = min(ttl, int((job.expires_at - now).total_seconds()))
    return max(ttl, 0)


def signed_url(job: ExportJob) -> tuple[str, int]:
    """An absolute signed URL of the job's file and how many seconds it is valid."""
    lifetime = url_lifetime(job)
    expires = int(time.time()) + lifetime
    path = (
        f"/files/{job.public_id}?expires={expires}&signature={_signature(job.public_id, expires)}"
    )
    return get_settings().base_url + path, lifetime


def verify(public_id: str, expires: int, signature: str) -> bool:
    """True for an untampered URL that has not expired."""
    if expires < time.time():
        return False
    return hmac.compare_digest(_signature(public_id, expires), signature)


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback and the exact UTF-8 name (RFC 6266 / 5987)."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def file_present(job: ExportJob) -> bool:
    """True when the job's file is in storage and not past retention."""
    if job.storage_key is None:
        return False
    if job.expires_at is not None and job.expires_at <= datetime.now(UTC):
        return False
    return default_storage().exists(job.storage_key)


def file_response(job: ExportJob) -> StreamingResponse:
    """Stream the job's file with its filename, type, size and checksum."""
    storage = default_storage()
    assert job.storage_key is not None
    path = storage.path(job.storage_key)

    def chunks() -> Iterator[bytes]:
        with storage.fs.open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                yield block

    headers = {
        "Content-Disposition": content_disposition(job.filename or "export"),
        "Cache-Control": "private, no-store",
    }
    if job.file_size_bytes is not None:
        headers["Content-Length"] = str(job.file_size_bytes)
    if job.sha256:
        headers["ETag"] = f'"{job.sha256}"'
    return StreamingResponse(
        chunks(), media_type=job.content_type or "application/octet-stream", headers=headers
    )
