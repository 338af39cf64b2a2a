"""API keys: listed without their secret, revoked by id or prefix, refused once revoked."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import update

from jobstore import store
from jobstore.accounts import (
    authenticate,
    create_account,
    create_api_key,
    hash_key,
    list_api_keys,
    revoke_api_key,
)
from jobstore.models import ApiKey
from report_exports.database import engine_for
from report_exports.errors import NotFoundError, ValidationError


@pytest.fixture
def engine(tmp_path: Path):
    engine = engine_for(f"sqlite:///{tmp_path / 'jobs.db'}")
    store.init_store(engine)
    return engine


def test_a_key_revoked_by_id_or_prefix_no_longer_authenticates(engine) -> None:
    account = create_account(engine, "acme", "growth")
    first = create_api_key(engine, account.id, "admin", "a@acme.test")
    second = create_api_key(engine, account.id, "member")
    assert authenticate(engine, first) and authenticate(engine, second)
    keys = list_api_keys(engine, account.id)
    assert [k.prefix for k in keys] == [first[:12], second[:12]]
    assert all(
        k.revoked_at is None and k.key_hash == hash_key(p)
        for k, p in zip(keys, (first, second), strict=True)
    )

    by_id = revoke_api_key(engine, str(keys[0].id))
    assert by_id.id == keys[0].id and by_id.revoked_at is not None
    assert authenticate(engine, first) is None and authenticate(engine, second) is not None
    by_prefix = revoke_api_key(engine, second[:12], account_id=account.id)
    assert by_prefix.id == keys[1].id and authenticate(engine, second) is None
    assert [k.revoked_at for k in list_api_keys(engine, account.id)] == [
        by_id.revoked_at,
        by_prefix.revoked_at,
    ]
    # Again: still revoked, and since the first time.
    assert revoke_api_key(engine, str(keys[0].id)).revoked_at == by_id.revoked_at


def test_revoke_finds_exactly_one_key_or_says_why(engine) -> None:
    acme, globex = (create_account(engine, n, "pro") for n in ("acme", "globex"))
    key = create_api_key(engine, acme.id, "admin")
    for missing in ("999", str(2**63), "rex_nothing", ""):
        with pytest.raises(NotFoundError):
            revoke_api_key(engine, missing)
    with pytest.raises(NotFoundError):  # another account's key
        revoke_api_key(engine, key[:12], account_id=globex.id)
    assert authenticate(engine, key) is not None
    other = create_api_key(engine, globex.id, "admin")
    with engine.begin() as conn:  # 8 random characters rarely collide; make them
        conn.execute(
            update(ApiKey).where(ApiKey.key_hash == hash_key(other)).values(prefix=key[:12])
        )
    with pytest.raises(ValidationError, match="give the id"):
        revoke_api_key(engine, key[:12])
    assert authenticate(engine, key) and authenticate(engine, other)
    assert revoke_api_key(engine, key[:12], account_id=globex.id).account_id == globex.id
    assert authenticate(engine, key) is not None and authenticate(engine, other) is None
