"""Staging parts and published files on a local directory (default) or any fsspec URL.

Keys are always made by the server (account / job / random token); user input never
becomes part of a path.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import fsspec
from fsspec.implementations.local import LocalFileSystem

from report_exports.errors import StorageError, TransientStorageError
from report_exports.settings import get_settings


@dataclass(frozen=True)
class Storage:
    """A filesystem and the root every key is relative to."""

    fs: fsspec.AbstractFileSystem
    root: str

    @classmethod
    def from_url(cls, url: str) -> Storage:
        """Storage for a local path, ``file://`` URL or any fsspec URL (e.g. ``s3://b/p``)."""
        fs, root = fsspec.core.url_to_fs(url)
        if isinstance(fs, LocalFileSystem):
            Path(root).mkdir(parents=True, exist_ok=True)
        return cls(fs=fs, root=root.rstrip("/"))

    @property
    def is_local(self) -> bool:
        """True for a local directory (files can be handed to readers by path)."""
        return isinstance(self.fs, LocalFileSystem)

    def path(self, key: str) -> str:
        """The filesystem path of a key."""
        return f"{self.root}/{key}"

    def exists(self, key: str) -> bool:
        """True when the key holds a complete object."""
        return bool(self.fs.exists(self.path(key)))

    def size(self, key: str) -> int:
        """Size in bytes of the object at ``key``."""
        return int(self.fs.size(self.path(key)))

    def put_atomic(self, local_file: Path, key: str) -> None:
        """Upload under a temporary name, then make it visible under ``key`` in one step."""
        final = self.path(key)
        temporary = f"{final}.partial-{secrets.token_hex(6)}"
        try:
            if self.is_local:
                Path(final).parent.mkdir(parents=True, exist_ok=True)
                # A copy on the same filesystem, then an atomic rename.
                self.fs.put_file(str(local_file), temporary)
                os.replace(temporary, final)
            else:
                self.fs.put_file(str(local_file), temporary)
                self.fs.mv(temporary, final)
        except FileNotFoundError as exc:
            raise StorageError(f"cannot publish {key}: {exc}") from exc
        except OSError as exc:
            self._discard(temporary)
            raise TransientStorageError(f"cannot publish {key}: {exc}") from exc

    def delete(self, key: str) -> None:
        """Delete one object; a missing one is fine."""
        self._discard(self.path(key))

    def delete_prefix(self, prefix: str) -> None:
        """Delete everything under ``prefix`` (a job's staging folder, for instance)."""
        target = self.path(prefix)
        if self.fs.exists(target):
            self.fs.rm(target, recursive=True)

    def list_keys(self, prefix: str) -> list[str]:
        """Keys of the objects under ``prefix``, sorted."""
        target = self.path(prefix)
        if not self.fs.exists(target):
            return []
        start = len(self.root) + 1
        return sorted(p[start:] for p in self.fs.find(target))

    def _discard(self, path: str) -> None:
        try:
            if self.fs.exists(path):
                self.fs.rm(path)
        except OSError:
            pass


def default_storage() -> Storage:
    """The storage named by the settings."""
    return Storage.from_url(get_settings().storage_url)


def scratch_dir() -> Path:
    """Local scratch space for files being written before they go to storage."""
    path = get_settings().tmp_dir
    path.mkdir(parents=True, exist_ok=True)
    return path


def staging_prefix(job_id: int) -> str:
    """Folder of a job's extracted parts (kept until the job is recorded)."""
    return f"staging/job-{job_id}"


def published_key(account_id: int, job_id: int, filename: str) -> str:
    """Where a job's file is published: account / job / unguessable token / filename."""
    return f"exports/account-{account_id}/job-{job_id}/{secrets.token_urlsafe(12)}/{filename}"
