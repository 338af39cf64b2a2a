"""Alembic migrations of the job store, run from code: no alembic.ini is needed.

:func:`upgrade_to_head` brings a database to the newest revision. It is idempotent and
safe when several processes start at once: on PostgreSQL they queue on an advisory lock,
on SQLite on the database's write lock, and every later one finds the schema at head.
A job store created by ``create_all`` before migrations existed is stamped at the
baseline revision first (its tables are exactly the baseline's).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent
BASELINE_REVISION = "0001"
# The newest revision in versions/ (a test holds it to Alembic's own answer). A store at it
# needs no migration, so processes that find it so never import Alembic (9 MB, 0.4 s).
HEAD_REVISION = "0008_housekeeping_leases"
BASELINE_TABLES = frozenset({"accounts", "api_keys", "export_jobs"})
# Any constant works; every process migrating the same database must use the same one.
ADVISORY_LOCK_KEY = int.from_bytes(b"rex_jobs", "big")


def alembic_config(url: str, connection: Connection | None = None) -> Config:
    """An Alembic config for the job store at ``url`` (run on ``connection`` if given)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))  # ini interpolation
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@lru_cache(maxsize=1)
def head_revision() -> str | None:
    """The newest revision in ``versions/``, as Alembic reads it."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at (None when it was never migrated)."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def _stored_revisions(connection: Connection) -> list[str]:
    """What ``alembic_version`` holds, read without Alembic ([] when there is none)."""
    if not inspect(connection).has_table("alembic_version"):
        return []
    return list(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())


def upgrade_to_head(engine: Engine) -> None:
    """Migrate the job store at ``engine`` to the newest revision, in one transaction."""
    with engine.connect() as conn:
        if _stored_revisions(conn) == [HEAD_REVISION]:
            return  # the usual case: no lock, no writes, no Alembic
    from alembic import command

    url = engine.url.render_as_string(hide_password=False)
    with engine.begin() as conn:
        _lock_for_migration(conn)
        config = alembic_config(url, conn)
        if _created_before_migrations(conn):
            command.stamp(config, BASELINE_REVISION)
        command.upgrade(config, "head")


def _lock_for_migration(conn: Connection) -> None:
    # Released when the transaction ends; PostgreSQL DDL is transactional, so a process
    # that waited sees the committed schema and its upgrade does nothing.
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
    elif conn.dialect.name == "sqlite":
        # pysqlite would open the transaction only at the first INSERT, after the DDL.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _created_before_migrations(conn: Connection) -> bool:
    tables = set(inspect(conn).get_table_names())
    return "alembic_version" not in tables and tables >= BASELINE_TABLES
