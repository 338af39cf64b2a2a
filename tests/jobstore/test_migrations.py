"""Alembic migrations of the job store: the same schema as the models on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from jobstore import store
from jobstore.migrations import (
    BASELINE_REVISION,
    HEAD_REVISION,
    alembic_config,
    current_revision,
    head_revision,
    upgrade_to_head,
)
from jobstore.models import Base
from report_exports.database import engine_for
from report_exports.settings import PROJECT_ROOT as ROOT
from tests.postgres import scratch_database, server_url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty job store database of each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'jobs.db'}"
        return
    with scratch_database(server_url()) as url:
        yield url


def _differences(url: str) -> list[object]:
    with engine_for(url).connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))


def test_migrated_schema_is_the_models_schema(empty_url: str) -> None:
    engine = engine_for(empty_url)
    upgrade_to_head(engine)
    with engine.connect() as conn:
        assert current_revision(conn) == head_revision()
    assert _differences(empty_url) == []
    upgrade_to_head(engine)  # idempotent: already at head
    job = store.create_job(
        engine,
        surface="verifyhuman",
        account_id=1,
        report_type="overview",
        fmt="pdf",
        params={"env": "live"},
    )
    assert store.get_job(engine, job.id).params == {"env": "live"}


def test_store_made_before_migrations_is_stamped_and_keeps_its_rows(empty_url: str) -> None:
    engine = engine_for(empty_url)
    # How the store was made before migrations: create_all of the baseline models, which
    # are exactly revision 0001's tables, and no alembic_version.
    with engine.begin() as conn:
        command.upgrade(alembic_config(empty_url, conn), BASELINE_REVISION)
        conn.execute(text("DROP TABLE alembic_version"))
        conn.execute(
            text(
                "INSERT INTO export_jobs (public_id, surface, account_id, report_type, format,"
                " params, params_hash, state, parts_done, created_at, updated_at) VALUES"
                " ('0190-old', 'webhooks', 2, 'message-log', 'csv', '{}', 'h', 'succeeded', 0,"
                " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        job_id = conn.execute(text("SELECT id FROM export_jobs")).scalar_one()
    upgrade_to_head(engine)
    with engine.connect() as conn:
        assert current_revision(conn) == head_revision()
    old = store.get_job(engine, job_id)
    assert old.surface == "webhooks" and old.state == "succeeded"
    assert old.launch_mode == "deployment" and old.rows_done == 0  # the new columns' defaults
    assert _differences(empty_url) == []


def test_processes_starting_together_migrate_once(empty_url: str) -> None:
    errors: list[BaseException] = []

    def migrate() -> None:
        try:
            # A fresh engine per thread, as separate processes would have.
            from sqlalchemy import create_engine

            upgrade_to_head(create_engine(empty_url, connect_args=_connect_args(empty_url)))
        except BaseException as exc:  # handed to the test thread
            errors.append(exc)

    threads = [threading.Thread(target=migrate) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert set(inspect(engine_for(empty_url)).get_table_names()) >= {
        "accounts",
        "api_keys",
        "export_jobs",
        "alembic_version",
    }
    assert _differences(empty_url) == []


def _connect_args(url: str) -> dict[str, object]:
    return {"timeout": 30} if url.startswith("sqlite") else {}


def test_head_revision_constant_is_alembics_head() -> None:
    assert head_revision() == HEAD_REVISION


def test_flow_processes_and_stores_at_head_never_import_alembic(tmp_path: Path) -> None:
    """Opening a store already at head reads its revision with plain SQL."""
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    upgrade_to_head(engine_for(url))
    probe = (
        "import sys; import flows.export_report; from jobstore.store import init_store; "
        f"from report_exports.database import engine_for; init_store(engine_for({url!r})); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]", out.stderr[-2000:]
