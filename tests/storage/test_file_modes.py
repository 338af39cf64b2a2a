"""Local state is private whatever the umask: files 0600, folders 0700. Checked under umask
0, where any mode the code does not set itself would show as 0666 or 0777."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from report_exports.file_modes import private_dir, private_file
from report_exports.settings import get_settings
from storage.files import Storage, default_storage
from tests.factories import DECEMBER, run_export, umask


def mode(path: Path | str) -> int:
    """The permission bits of ``path``."""
    return stat.S_IMODE(Path(path).stat().st_mode)


def test_stored_files_are_0600_in_0700_folders_copied_or_moved(tmp_path: Path) -> None:
    with umask(0):
        storage = Storage.from_url(str(tmp_path / "var" / "files"))
        scratch = tmp_path / "scratch.csv"
        scratch.write_bytes(b"a\n")
        assert mode(scratch) == 0o666, "the umask is really 0"
        storage.put_atomic(scratch, "staging/job-1/0000/rows.csv")
        storage.put_atomic(scratch, "exports/account-1/job-1/t/report.csv", move=True)
    for key in ("staging/job-1/0000/rows.csv", "exports/account-1/job-1/t/report.csv"):
        assert mode(storage.path(key)) == 0o600, key
    root = Path(storage.root)
    for folder in (root.parent, root, *(p for p in root.rglob("*") if p.is_dir())):
        assert mode(folder) == 0o700, folder


def test_folders_that_exist_keep_their_mode_unless_ours(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    with umask(0):
        private_dir(shared / "a" / "b")
        assert mode(shared) == 0o755 and mode(shared / "a") == mode(shared / "a" / "b") == 0o700
        private_dir(shared, tighten=True)
        assert mode(shared) == 0o700
        made = private_file(shared / "f")
        made.write_text("x")  # a writer truncating it keeps the mode
        assert mode(made) == 0o600


@pytest.mark.usefixtures("prefect_server", "demo_source")
def test_a_real_export_leaves_only_private_files() -> None:
    with umask(0):
        job, published = run_export("verifyhuman", "usage", "csv", DECEMBER)
    settings = get_settings()
    assert mode(published) == 0o600
    root = Path(default_storage().root)
    assert published.is_relative_to(root) and job.storage_key
    for path in (root, *root.rglob("*")):  # staging folders of this run included
        assert mode(path) == (0o700 if path.is_dir() else 0o600), path
    store = Path(settings.database_url.removeprefix("sqlite:///"))
    assert store.parent == settings.var_dir
    # SQLite makes -wal and -shm (open while the engine's connections are) with the mode
    # of the database file.
    for name in (store, store.with_name(store.name + "-wal"), store.with_name(store.name + "-shm")):
        assert mode(name) == 0o600, name
    assert mode(settings.var_dir) == mode(settings.tmp_dir) == 0o700
