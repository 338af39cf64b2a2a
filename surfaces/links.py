"""Expiring download links of published files: presigned on S3, HMAC-signed otherwise.

Here, with the surfaces, so that whoever shows a job (the API's routers, the webhook
payloads of the delivery flow) hands out the same links. Storage failures leave as
:class:`report_exports.errors.StorageError`; the API turns them into 503s.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from datetime import UTC, datetime
from functools import lru_cache
from urllib.parse import quote

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
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            return path.read_text().strip().encode()
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
    """An absolute URL of the job's file and how many seconds it is valid.

    On S3 it is a presigned GET URL (SigV4) straight to the bucket whose signed query sets
    Content-Disposition (the filename) and Content-Type; elsewhere it is the API's own
    HMAC-signed ``/files/...`` URL. Either lives ``url_lifetime``: never past retention.
    """
    lifetime = url_lifetime(job)
    assert job.storage_key is not None
    presigned = default_storage().presigned_url(
        job.storage_key,
        max(lifetime, 1),  # S3's minimum; the file is at most a second from expiry
        content_disposition=content_disposition(job.filename or "export"),
        content_type=job.content_type or "application/octet-stream",
    )
    if presigned is not None:
        return presigned, lifetime
    expires = int(time.time()) + lifetime
    path = (
        f"/files/{job.public_id}?expires={expires}&signature={_signature(job.public_id, expires)}"
    )
    return get_settings().base_url + path, lifetime


def verify(public_id: str, expires: int, signature: str) -> bool:
    """True for an untampered URL that has not expired."""
    if expires < time.time():
        return False
    # As bytes: compare_digest refuses str with non-ASCII characters (TypeError, a 500).
    return hmac.compare_digest(_signature(public_id, expires).encode(), signature.encode())


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback and the exact UTF-8 name (RFC 6266 / 5987)."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
