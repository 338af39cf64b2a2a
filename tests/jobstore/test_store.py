"""The job store: lifecycle transitions that cannot lie."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobstore import store
from report_exports.database import engine_for
from report_exports.errors import NotFoundError


@pytest.fixture
def engine(tmp_path: Path):
    engine = engine_for(f"sqlite:///{tmp_path / 'jobs.db'}")
    store.init_store(engine)
    return engine


def _job(engine):
    return store.create_job(
        engine,
        surface="verifyhuman",
        account_id=1,
        report_type="overview",
        fmt="pdf",
        params={"env": "live"},
    )


def test_unknown_job_is_not_found(engine) -> None:
    with pytest.raises(NotFoundError):
        store.get_job(engine, 999)


def test_identical_requests_share_a_fingerprint() -> None:
    one = store.params_fingerprint("verifyhuman", 1, "overview", "pdf", {"a": 1, "b": 2})
    two = store.params_fingerprint("verifyhuman", 1, "overview", "pdf", {"b": 2, "a": 1})
    other = store.params_fingerprint("verifyhuman", 2, "overview", "pdf", {"a": 1, "b": 2})
    assert one == two != other


def test_a_members_request_never_shares_another_users_job(engine) -> None:
    args = dict(surface="hienergy", account_id=1, report_type="deals_excel", fmt="xlsx", params={})
    admin, created = store.create_job_once(engine, **args, scope="admin@acme")
    member, member_created = store.create_job_once(engine, **args, scope="member@acme")
    again, again_created = store.create_job_once(engine, **args, scope="member@acme")
    assert created and member_created and not again_created
    assert admin.id != member.id == again.id
