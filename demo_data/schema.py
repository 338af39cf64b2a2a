"""The demo source: the built-in reports' tables (catalog.sources) and the demo's values."""

from __future__ import annotations

from catalog.sources import (
    SQLITE_DATETIME_FORMAT,
    advertisers,
    clicks,
    deals,
    metadata,
    verification_events,
    webhook_messages,
)

__all__ = [
    "PRODUCTS",
    "SQLITE_DATETIME_FORMAT",
    "VERIFICATION_OUTCOMES",
    "WEBHOOK_STATUSES",
    "advertisers",
    "clicks",
    "deals",
    "metadata",
    "verification_events",
    "webhook_messages",
]

WEBHOOK_STATUSES = ("pending", "delivered", "retrying", "failed", "failed_permanent")
VERIFICATION_OUTCOMES = ("passed", "failed", "challenged", "error")
PRODUCTS = ("captcha", "liveness", "document", "age-estimation")
