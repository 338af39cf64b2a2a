"""S3 through s3fs: connection options, polars reader options, errors told apart.

Only ``s3://`` storage uses this module; s3fs itself is imported by fsspec on first use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore import exceptions as boto

from report_exports.errors import StorageError, TransientStorageError
from report_exports.settings import Settings

# Bounded waits: a dead endpoint must fail a task in seconds, and Prefect's own task
# retries (plan, extract, publish) decide how often to try again.
CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 60
REQUEST_ATTEMPTS = 3
# Files up to twice this go up in one PUT; larger ones as a multipart upload of parts this
# size (S3's minimum part is 5 MiB). Upload memory stays within parts x concurrency.
UPLOAD_PART_BYTES = 8 << 20
UPLOAD_CONCURRENCY = 4
# Streaming through the API: ranged GETs of this size.
READ_BLOCK_BYTES = 4 << 20

# Not worth a retry: the same request will fail the same way.
PERMANENT = (
    boto.NoCredentialsError,
    boto.PartialCredentialsError,
    boto.ParamValidationError,
    boto.InvalidRegionError,
)


@dataclass(frozen=True)
class S3Options:
    """Where the S3 API is and how to sign for it (the ``REPORT_EXPORTS_S3_*`` settings)."""

    endpoint_url: str = ""
    access_key_id: str = ""
    secret_access_key: str = ""
    region: str = "us-east-1"

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Options:
        """The options named by the settings."""
        return cls(
            endpoint_url=settings.s3_endpoint_url,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key.get_secret_value(),
            region=settings.s3_region,
        )

    def filesystem_options(self) -> dict[str, Any]:
        """Keyword arguments of ``s3fs.S3FileSystem``: SigV4, bounded retries, no stale listings."""
        config: dict[str, Any] = {
            "signature_version": "s3v4",
            "connect_timeout": CONNECT_TIMEOUT_SECONDS,
            "read_timeout": READ_TIMEOUT_SECONDS,
            "retries": {"max_attempts": REQUEST_ATTEMPTS, "mode": "standard"},
        }
        options: dict[str, Any] = {
            # Several processes write the bucket: a cached listing would hide their objects.
            "use_listings_cache": False,
            "max_concurrency": UPLOAD_CONCURRENCY,
            "client_kwargs": {"region_name": self.region},
            "config_kwargs": config,
        }
        if self.endpoint_url:
            options["endpoint_url"] = self.endpoint_url
            config["s3"] = {"addressing_style": "path"}  # custom hosts rarely have bucket DNS
        if self.access_key_id:
            options["key"] = self.access_key_id
            options["secret"] = self.secret_access_key
        return options

    def reader_options(self) -> dict[str, str]:
        """``storage_options`` for polars' own (object_store) S3 reader, same server and keys."""
        options = {"aws_region": self.region}
        if self.endpoint_url:
            options["aws_endpoint_url"] = self.endpoint_url
            options["aws_allow_http"] = str(self.endpoint_url.startswith("http://")).lower()
        if self.access_key_id:
            options["aws_access_key_id"] = self.access_key_id
            options["aws_secret_access_key"] = self.secret_access_key
        return options


def error_code(exc: BaseException) -> str | None:
    """The S3 error code (``NoSuchBucket``, ``AccessDenied``...) behind an exception, if any."""
    seen: BaseException | None = exc
    while seen is not None:
        response = getattr(seen, "response", None)
        if isinstance(response, dict):
            code = response.get("Error", {}).get("Code")
            if code:
                return str(code)
        seen = seen.__cause__ or seen.__context__
    return None


def storage_error(exc: BaseException, doing: str, bucket: str) -> StorageError:
    """The domain error for a failed S3 call: permanent or worth a retry, with a clear message."""
    code = error_code(exc)
    detail = str(exc) or type(exc).__name__
    if code == "NoSuchBucket" or "bucket does not exist" in detail.lower():
        return StorageError(f"{doing}: S3 bucket {bucket!r} does not exist")
    if isinstance(exc, PermissionError) or code in ("AccessDenied", "InvalidAccessKeyId"):
        return StorageError(f"{doing}: S3 refused access to bucket {bucket!r} ({detail})")
    if isinstance(exc, PERMANENT):
        return StorageError(f"{doing}: S3 client misconfigured ({detail})")
    if isinstance(exc, FileNotFoundError):
        return StorageError(f"{doing}: not found ({detail})")
    if isinstance(exc, boto.EndpointConnectionError | boto.ConnectTimeoutError):
        return TransientStorageError(f"{doing}: S3 endpoint unreachable ({detail})")
    return TransientStorageError(f"{doing}: {detail}")
