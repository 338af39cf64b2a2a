"""The demo accounts that own every generated row: one per plan tier."""

from __future__ import annotations

from dataclasses import dataclass


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
