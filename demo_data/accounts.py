"""The demo accounts that own every generated row: one per plan tier."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class DemoAccount:
    """A tenant of the demo: VerifyHuman/HiEnergy account id and its webhook project."""

    id: int
    name: str
    plan: str
    project_id: str


DEMO_ACCOUNTS: tuple[DemoAccount, ...] = (
    DemoAccount(1, "acme", "growth", "proj_acme01"),
    DemoAccount(2, "globex", "pro", "proj_globex02"),
    DemoAccount(3, "initech", "enterprise", "proj_initech03"),
    DemoAccount(4, "umbrella", "starter", "proj_umbrella04"),
    DemoAccount(5, "hooli", "free", "proj_hooli05"),
)

DEFAULT_ACCOUNT_ID = 1
"""The account the demo exports run as; it owns about 30% of every table."""

PLAN_ACTIVITY: dict[str, float] = {
    "free": 0.06,
    "starter": 0.12,
    "growth": 0.30,
    "pro": 0.25,
    "enterprise": 0.27,
}
"""Share of generated rows per plan tier (paying tiers are busier)."""


def activity_weights() -> list[float]:
    """Row share of each account, in ``DEMO_ACCOUNTS`` order."""
    return [PLAN_ACTIVITY[account.plan] for account in DEMO_ACCOUNTS]


def seed_accounts(engine: Any, keys_file: Path) -> dict[str, dict[str, str]]:
    """Create the demo accounts with an admin and a member key each, once.

    The keys are stored hashed in the job store; their plain form is kept in ``keys_file``
    (mode 600, under var/) only so that the local demo can print and use them.
    """
    from jobstore.accounts import create_account, create_api_key, list_accounts

    if keys_file.exists():
        return dict(json.loads(keys_file.read_text()))
    existing = {a.name for a in list_accounts(engine)}
    keys: dict[str, dict[str, str]] = {}
    for account in DEMO_ACCOUNTS:
        if account.name not in existing:
            create_account(
                engine,
                account.name,
                account.plan,
                account_id=account.id,
                project_id=account.project_id,
            )
        keys[account.name] = {
            "admin": create_api_key(engine, account.id, "admin", f"admin@{account.name}.test"),
            "member": create_api_key(engine, account.id, "member", f"member@{account.name}.test"),
        }
    keys_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(keys_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(keys, fh, indent=2)
    return keys
