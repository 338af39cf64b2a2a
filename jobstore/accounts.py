"""Accounts and API keys. Keys are shown once at creation and stored as SHA-256 only."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jobstore.models import Account, ApiKey, utcnow
from report_exports.errors import NotFoundError, ValidationError

PLANS = ("free", "starter", "growth", "pro", "enterprise")
ROLES = ("admin", "member")
KEY_PREFIX = "rex_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the account, its plan and the key's role and user."""

    account_id: int
    account_name: str
    plan: str
    project_id: str
    role: str
    user: str  # the key's user e-mail, or "key:<prefix>" for keys without one

    @property
    def is_admin(self) -> bool:
        """Admins see every export of their account."""
        return self.role == "admin"


def hash_key(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode()).hexdigest()


def create_account(
    engine: Engine,
    name: str,
    plan: str,
    *,
    account_id: int | None = None,
    project_id: str | None = None,
) -> Account:
    """A new account; names are unique."""
    if plan not in PLANS:
        raise ValidationError(f"plan must be one of: {', '.join(PLANS)}", field="plan")
    if not name or len(name) > 80:
        raise ValidationError("name must be 1 to 80 characters", field="name")
    account = Account(
        id=account_id, name=name, plan=plan, project_id=project_id or f"proj_{secrets.token_hex(6)}"
    )
    try:
        with Session(engine, expire_on_commit=False) as session, session.begin():
            session.add(account)
    except IntegrityError:
        raise ValidationError(f"an account named {name!r} already exists", field="name") from None
    return account


def list_accounts(engine: Engine) -> list[Account]:
    """Every account, by id."""
    with Session(engine, expire_on_commit=False) as session:
        return list(session.scalars(select(Account).order_by(Account.id)))


def account_name(engine: Engine, account_id: int) -> str | None:
    """The name of the account with this id, or None when there is none."""
    with Session(engine) as session:
        return session.scalar(select(Account.name).where(Account.id == account_id))


def principal_for_account(
    engine: Engine, account_id: int, user: str, role: str = "admin"
) -> Principal:
    """A principal acting for an account without a key (the CLI, the recurring flow)."""
    with Session(engine, expire_on_commit=False) as session:
        account = session.get(Account, account_id)
    if account is None:
        raise NotFoundError(f"no account with id {account_id}")
    return Principal(
        account_id=account.id,
        account_name=account.name,
        plan=account.plan,
        project_id=account.project_id,
        role=role,
        user=user,
    )


def account_by_name(engine: Engine, name: str) -> Account:
    """The account called ``name``."""
    with Session(engine, expire_on_commit=False) as session:
        account = session.scalars(select(Account).where(Account.name == name)).first()
    if account is None:
        raise NotFoundError(f"no account named {name!r}")
    return account


def create_api_key(
    engine: Engine, account_id: int, role: str, user_email: str | None = None
) -> str:
    """A new key for the account; the plain key is returned once and never stored."""
    if role not in ROLES:
        raise ValidationError(f"role must be one of: {', '.join(ROLES)}", field="role")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with Session(engine) as session, session.begin():
        session.add(
            ApiKey(
                account_id=account_id,
                key_hash=hash_key(key),
                prefix=key[:12],
                role=role,
                user_email=user_email,
            )
        )
    return key


def list_api_keys(engine: Engine, account_id: int) -> list[ApiKey]:
    """The account's keys, revoked ones included, by id (the stored hash, never the key)."""
    with Session(engine, expire_on_commit=False) as session:
        return list(
            session.scalars(
                select(ApiKey).where(ApiKey.account_id == account_id).order_by(ApiKey.id)
            )
        )


def revoke_api_key(engine: Engine, id_or_prefix: str, *, account_id: int | None = None) -> ApiKey:
    """Revoke the key with this id (digits) or prefix (``rex_…``, as listed); returns it.

    A revoked key stops authenticating at once. Revoking it again keeps the first time.
    ``account_id`` limits the search to one account. A prefix that two keys share is
    refused: the id says which.
    """
    by_id = id_or_prefix.isascii() and id_or_prefix.isdigit()
    if by_id and int(id_or_prefix) >= 2**63:  # no row has it, and SQLite could not compare
        raise NotFoundError(f"no API key {id_or_prefix!r}")
    where = [ApiKey.id == int(id_or_prefix) if by_id else ApiKey.prefix == id_or_prefix]
    if account_id is not None:
        where.append(ApiKey.account_id == account_id)
    with Session(engine, expire_on_commit=False) as session, session.begin():
        found = list(session.scalars(select(ApiKey).where(*where)))
        if not found:
            raise NotFoundError(f"no API key {id_or_prefix!r}")
        if len(found) > 1:
            ids = ", ".join(str(k.id) for k in found)
            raise ValidationError(
                f"{len(found)} keys have the prefix {id_or_prefix!r} (ids {ids}): give the id",
                field="key",
            )
        (key,) = found
        # Guarded: a concurrent revoke does not move the first revocation's time.
        session.execute(
            update(ApiKey)
            .where(ApiKey.id == key.id, ApiKey.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
    with Session(engine, expire_on_commit=False) as session:
        revoked = session.get(ApiKey, key.id)
    assert revoked is not None
    return revoked


def authenticate(engine: Engine, key: str | None) -> Principal | None:
    """The principal of a valid, unrevoked key, else None."""
    found = authenticate_key(engine, key)
    return found[1] if found else None


def authenticate_key(engine: Engine, key: str | None) -> tuple[int, Principal] | None:
    """The id and principal of a valid, unrevoked key, else None (the page's sign-in)."""
    if not key or not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    return _principal_where(engine, ApiKey.key_hash == hash_key(key))


def principal_of_key(engine: Engine, key_id: int) -> Principal | None:
    """The principal of the unrevoked key with this id, else None (the page's session)."""
    if not 0 < key_id < 2**63:
        return None
    found = _principal_where(engine, ApiKey.id == key_id)
    return found[1] if found else None


def _principal_where(engine: Engine, *where: Any) -> tuple[int, Principal] | None:
    with Session(engine) as session:
        row = session.execute(
            select(ApiKey, Account)
            .join(Account, Account.id == ApiKey.account_id)
            .where(*where, ApiKey.revoked_at.is_(None))
        ).first()
    if row is None:
        return None
    api_key, account = row
    return api_key.id, Principal(
        account_id=account.id,
        account_name=account.name,
        plan=account.plan,
        project_id=account.project_id,
        role=api_key.role,
        user=api_key.user_email or f"key:{api_key.prefix}",
    )
