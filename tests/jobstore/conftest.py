"""A fresh SQLite job store per test, for the job store's own tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from jobstore import store
from report_exports.database import engine_for


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    """An initialised job store in the test's own folder."""
    made = engine_for(f"sqlite:///{tmp_path / 'jobs.db'}")
    store.init_store(made)
    return made
