"""SQLAlchemy engines chosen by URL, one pool per URL per process."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from report_exports.file_modes import private_dir, private_file
from report_exports.settings import get_settings


@lru_cache(maxsize=16)
def engine_for(url: str) -> Engine:
    """A pooled engine for ``url``; SQLite gets WAL and a busy timeout for concurrent writers."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        # Created 0600 here, not by SQLite under the umask; its -wal and -shm files take
        # the database file's mode. The var dir holding the default store is ours: 0700.
        database = Path(parsed.database).resolve()
        private_dir(database.parent, tighten=database.parent == get_settings().var_dir)
        private_file(database)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=30000")
        # WAL lets readers and writers overlap; switching takes a lock, so only when needed.
        if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            cursor.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL syncs at checkpoints, not at every commit: a commit survives
        # any process dying (the guarantee the job lifecycle needs); only a power loss or
        # an OS crash can take back the last few. A job row's every stage is a commit.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


def is_sqlite(url: str) -> bool:
    """True when the URL points at SQLite."""
    return make_url(url).get_backend_name() == "sqlite"
