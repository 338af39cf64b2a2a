"""Staging parts and published files on a local directory (default), S3, or any fsspec URL.

Keys are always made by the server (account / job / random token); user input never
becomes part of a path. Every failure leaves here as a :class:`StorageError` (permanent)
or a :class:`TransientStorageError` (worth a retry), whatever the backend said.
"""

from __future__ import annotations

import errno
import os
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, cast

import fsspec
import polars as pl
from botocore.exceptions import BotoCoreError
from fsspec.implementations.local import LocalFileSystem

from report_exports.errors import StorageError, TransientStorageError
from report_exports.file_modes import PRIVATE_FILE, private_dir
from report_exports.settings import get_settings
from storage.s3 import READ_BLOCK_BYTES, UPLOAD_PART_BYTES, S3Options, storage_error

S3_PROTOCOLS = ("s3", "s3a")
# What a filesystem call may raise when the backend fails (s3fs lets botocore's through).
BACKEND_FAILURES = (OSError, BotoCoreError)


@dataclass(frozen=True)
class Storage:
    """A filesystem, the root every key is relative to, and how polars reaches it."""

    fs: fsspec.AbstractFileSystem
    root: str
    reader_options: dict[str, str] | None = field(default=None, compare=False)

    @classmethod
    def from_url(cls, url: str, s3: S3Options | None = None) -> Storage:
        """Storage for a local path, ``file://`` URL, ``s3://bucket/prefix`` or any fsspec URL."""
        protocol = fsspec.core.split_protocol(url)[0]
        if protocol in S3_PROTOCOLS:
            s3 = s3 or S3Options()
            fs, root = fsspec.core.url_to_fs(url, **s3.filesystem_options())
            return cls(fs=fs, root=root.rstrip("/"), reader_options=s3.reader_options())
        fs, root = fsspec.core.url_to_fs(url)
        if isinstance(fs, LocalFileSystem):
            private_dir(Path(root))
        return cls(fs=fs, root=root.rstrip("/"))

    @property
    def is_local(self) -> bool:
        """True for a local directory (files can be handed to readers by path)."""
        return isinstance(self.fs, LocalFileSystem)

    @property
    def is_s3(self) -> bool:
        """True for S3 (objects, presigned URLs, no rename)."""
        protocols = self.fs.protocol
        return bool(set((protocols,) if isinstance(protocols, str) else protocols) & {"s3"})

    @property
    def bucket(self) -> str:
        """The first component of the root: the bucket of object stores."""
        return self.root.split("/", 1)[0]

    def path(self, key: str) -> str:
        """The filesystem path of a key."""
        return f"{self.root}/{key}"

    def url(self, key: str) -> str:
        """A key as a readers' URL: a local path, or ``protocol://path``."""
        if self.is_local:
            return self.path(key)
        protocol = self.fs.protocol
        return f"{protocol if isinstance(protocol, str) else protocol[0]}://{self.path(key)}"

    def exists(self, key: str) -> bool:
        """True when the key holds a complete object."""
        with self._failures(f"cannot check {key}"):
            return bool(self.fs.exists(self.path(key)))

    def size(self, key: str) -> int:
        """Size in bytes of the object at ``key``."""
        with self._failures(f"cannot read the size of {key}"):
            return int(self.fs.size(self.path(key)))

    def read_text(self, key: str) -> str:
        """The whole (small) object at ``key`` as UTF-8 text."""
        with self._failures(f"cannot read {key}"):
            return bytes(self.fs.cat_file(self.path(key))).decode()

    def open_read(self, key: str, block_size: int | None = None) -> IO[bytes]:
        """The object at ``key`` open for reading (a missing one fails here).

        Off local disk, reads are ranged GETs of ``block_size`` bytes (at most
        ``READ_BLOCK_BYTES``): a caller that wants a short range from a seek asks for its
        length, and no more of the object is fetched.
        """
        block = min(block_size or READ_BLOCK_BYTES, READ_BLOCK_BYTES)
        options: dict[str, Any] = {} if self.is_local else {"block_size": max(block, 1)}
        with self._failures(f"cannot open {key}"):
            handle: IO[bytes] = self.fs.open(self.path(key), "rb", **options)
            return handle

    def scan_parquet(self, keys: Sequence[str]) -> pl.LazyFrame:
        """A lazy frame over staged Parquet files in the given order (read by polars itself)."""
        return pl.scan_parquet(
            [self.url(k) for k in keys], storage_options=self.reader_options or None
        )

    def iter_parquet(
        self, keys: Sequence[str], columns: Sequence[str], batch_rows: int
    ) -> Iterator[pl.DataFrame]:
        """Staged Parquet files in order, ``batch_rows`` rows at a time, one file open at once.

        pyarrow decodes one row group at a time: iterating 1M rows this way held 43 MB, where
        polars' ``collect_batches`` read ahead of a slow consumer and held 146 MB.
        """
        import pyarrow.parquet as pq

        for key in keys:
            with self.open_read(key) as handle:
                parquet = pq.ParquetFile(handle)
                for batch in parquet.iter_batches(batch_size=batch_rows, columns=list(columns)):
                    yield cast(pl.DataFrame, pl.from_arrow(batch))

    def read_parquet(self, key: str) -> pl.DataFrame:
        """One staged Parquet file."""
        return pl.read_parquet(self.url(key), storage_options=self.reader_options or None)

    def put_atomic(self, local_file: Path, key: str, *, move: bool = False) -> None:
        """Make ``local_file`` visible under ``key`` whole, in one step, or not at all.

        ``move`` hands the file over (the caller is done with it): on local storage it is
        renamed into place instead of copied when both are on one filesystem.
        """
        final = self.path(key)
        doing = f"cannot publish {key}"
        if self.is_s3:
            # A PUT, like a completed multipart upload, is atomic on S3: readers see the
            # whole object or none, so the upload goes straight to the final key and no
            # temporary key can be left behind (S3 has no rename; mv is copy + delete).
            # s3fs aborts a multipart upload that fails, so its parts do not linger.
            with self._failures(doing):
                self.fs.put_file(str(local_file), final, chunksize=UPLOAD_PART_BYTES)
            return
        temporary = f"{final}.partial-{secrets.token_hex(6)}"
        try:
            with self._failures(doing):
                if self.is_local:
                    private_dir(Path(final).parent)
                    # A copy (or, moving, a rename when scratch is on the same filesystem:
                    # a 600 MB file costs no second write), then an atomic rename; 0600
                    # before it is visible, whatever mode the copy or the writer gave it.
                    if not (move and _renamed(local_file, temporary)):
                        self.fs.put_file(str(local_file), temporary)
                    os.chmod(temporary, PRIVATE_FILE)
                    os.replace(temporary, final)
                else:
                    self.fs.put_file(str(local_file), temporary)
                    self.fs.mv(temporary, final)
        except StorageError:
            if self.is_local and move and not local_file.exists() and Path(temporary).exists():
                os.rename(temporary, local_file)  # handed back: a retry can publish it again
            self._discard(temporary)
            raise

    def presigned_url(
        self, key: str, expires_in: int, *, content_disposition: str, content_type: str
    ) -> str | None:
        """A SigV4 presigned GET URL that sets the response headers; None off S3.

        S3 itself answers ``Range`` on it; its ``Cache-Control`` is ``private, no-store``
        like the API's downloads (its ETag is S3's own, not the file's sha256).

        The headers ride in the signed query (``response-content-disposition``...), so
        changing the filename, the key or the expiry breaks the signature.
        """
        if not self.is_s3:
            return None
        with self._failures(f"cannot sign a URL for {key}"):
            return str(
                self.fs.url(
                    self.path(key),
                    expires=expires_in,
                    ResponseContentDisposition=content_disposition,
                    ResponseContentType=content_type,
                    ResponseCacheControl="private, no-store",
                )
            )

    def delete(self, key: str) -> None:
        """Delete one object; a missing one is fine."""
        with self._failures(f"cannot delete {key}"), suppress(FileNotFoundError):
            self.fs.rm_file(self.path(key))

    def delete_prefix(self, prefix: str) -> None:
        """Delete everything under ``prefix`` (a job's staging folder, for instance)."""
        target = self.path(prefix)
        with self._failures(f"cannot delete {prefix}/"):
            if self.fs.exists(target):
                self.fs.rm(target, recursive=True)

    def list_keys(self, prefix: str) -> list[str]:
        """Keys of the objects under ``prefix``, sorted."""
        target = self.path(prefix)
        with self._failures(f"cannot list {prefix}/"):
            if not self.fs.exists(target):
                return []
            start = len(self.root) + 1
            found = self.fs.find(target, detail=True)
            # Only objects: some S3 servers list an emptied "folder" as a common prefix.
            return sorted(p[start:] for p, info in found.items() if info["type"] == "file")

    def abort_stale_uploads(self, older_than: datetime) -> int:
        """Abort multipart uploads under the root begun before ``older_than``; returns how many.

        s3fs aborts an upload that fails, but not one whose process was killed: its parts
        stay invisible and billed until aborted. Nothing to do off S3.
        """
        if not self.is_s3:
            return 0
        aborted = 0
        with self._failures("cannot list unfinished uploads"):
            listing = self.fs.call_s3(
                "list_multipart_uploads", Bucket=self.bucket, Prefix=self._key_prefix()
            )
            for upload in listing.get("Uploads", []):
                if upload["Initiated"] < older_than:
                    self.fs.call_s3(
                        "abort_multipart_upload",
                        Bucket=self.bucket,
                        Key=upload["Key"],
                        UploadId=upload["UploadId"],
                    )
                    aborted += 1
        return aborted

    def _key_prefix(self) -> str:
        """The root inside the bucket, as an S3 key prefix ('' for the bucket itself)."""
        inside = self.root.partition("/")[2]
        return f"{inside}/" if inside else ""

    @contextmanager
    def _failures(self, doing: str) -> Iterator[None]:
        """Turn what the backend raised into a permanent or transient StorageError."""
        try:
            yield
        except StorageError:
            raise
        except BACKEND_FAILURES as exc:
            if self.is_s3:
                raise storage_error(exc, doing, self.bucket) from exc
            permanent = isinstance(exc, FileNotFoundError | PermissionError | NotADirectoryError)
            raise (StorageError if permanent else TransientStorageError)(f"{doing}: {exc}") from exc

    def _discard(self, path: str) -> None:
        try:
            if self.fs.exists(path):
                self.fs.rm(path)
        except BACKEND_FAILURES:
            pass  # best effort: the failure being reported matters more


def default_storage() -> Storage:
    """The storage named by the settings."""
    settings = get_settings()
    return Storage.from_url(settings.storage_url, S3Options.from_settings(settings))


def scratch_dir() -> Path:
    """Local scratch space for files being written before they go to storage (0700, in
    the var dir, which is ours and made 0700 too)."""
    settings = get_settings()
    private_dir(settings.var_dir, tighten=True)
    return private_dir(settings.tmp_dir, tighten=True)


def staging_prefix(job_id: int) -> str:
    """Folder of a job's extracted parts (kept until the job is recorded)."""
    return f"staging/job-{job_id}"


def _renamed(local_file: Path, target: str) -> bool:
    """Rename ``local_file`` to ``target``; False when they are on different filesystems."""
    try:
        os.rename(local_file, target)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        return False
    return True


def published_key(account_id: int, job_id: int, filename: str) -> str:
    """Where a job's file is published: account / job / unguessable token / filename."""
    return f"exports/account-{account_id}/job-{job_id}/{secrets.token_urlsafe(12)}/{filename}"
