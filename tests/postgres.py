"""PostgreSQL for tests: the server named by REPORT_EXPORTS_TEST_POSTGRES_URL, scratch databases.

``.ci/run`` starts the installed cluster and sets the variable. Without it the
``postgres``-marked tests skip locally; under CI (``CI`` set) an unreachable server fails.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from sqlalchemy.engine import make_url

from report_exports.database import engine_for

URL_VARIABLE = "REPORT_EXPORTS_TEST_POSTGRES_URL"


def libpq(url: str, database: str | None = None) -> str:
    """The SQLAlchemy URL as libpq reads it, optionally for another database."""
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def server_url() -> str:
    """The test server's SQLAlchemy URL, or skip (fail under CI) when there is none."""
    url = os.environ.get(URL_VARIABLE, "")
    problem = "" if url else f"{URL_VARIABLE} is not set"
    if url:
        try:
            psycopg.connect(libpq(url), connect_timeout=3).close()
        except psycopg.Error as exc:
            problem = f"PostgreSQL at {URL_VARIABLE} is unreachable: {exc}"
    if problem and os.environ.get("CI"):
        pytest.fail(problem)
    if problem:
        pytest.skip(problem)
    return url


@contextmanager
def scratch_database(server: str, prefix: str = "rex_test") -> Iterator[str]:
    """A new empty database on ``server``, dropped (even with open connections) afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(libpq(server), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        engine_for(url).dispose()
        with psycopg.connect(libpq(server), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
