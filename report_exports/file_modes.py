"""Private files and directories: 0600 and 0700 whatever the process umask.

Local state holds what others must not read: the job store, staged rows, rendered and
published exports. A mode passed to ``open`` or ``mkdir`` is masked by the umask (and
``mkdir(parents=True)`` gives parents the default mode), so every mode is set explicitly.
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def private_dir(path: Path, *, tighten: bool = False) -> Path:
    """``path`` as a directory, each missing component created 0700.

    Directories that already exist keep their mode (a configured path may sit in a shared
    one such as /tmp) unless ``tighten``: then ``path`` itself, which must be ours, is
    made 0700 too.
    """
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:
            continue  # another process made it meanwhile; it set the mode
        os.chmod(directory, PRIVATE_DIR)
    if tighten:
        os.chmod(path, PRIVATE_DIR)
    return path


def private_file(path: Path) -> Path:
    """``path`` created empty and 0600 if missing, so whatever writes it keeps that mode."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        return path
    try:
        os.fchmod(fd, PRIVATE_FILE)
    finally:
        os.close(fd)
    return path
