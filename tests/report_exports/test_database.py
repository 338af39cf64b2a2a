"""SQLite engines of the job store: WAL, commits that survive a process dying."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from report_exports.database import engine_for
from tests.conftest import ROOT


def test_sqlite_engines_use_wal_with_normal_sync(tmp_path) -> None:
    engine = engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_a_commit_survives_its_process_being_killed(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    # Commit, then die at once (no exit handlers, no checkpoint, no close).
    script = textwrap.dedent(
        f"""
        import os
        from report_exports.database import engine_for
        engine = engine_for({url!r})
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (v TEXT)")
            conn.exec_driver_sql("INSERT INTO t VALUES ('committed')")
        os.kill(os.getpid(), 9)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, timeout=60)
    assert done.returncode == -9
    with engine_for(url).connect() as conn:
        assert conn.exec_driver_sql("SELECT v FROM t").scalars().all() == ["committed"]
