"""Source tables the built-in reports read (the three domains of the seeds).

A report declares the tables it reads; these are the built-in catalog's. The demo data
generator (``demo_data``) fills them; production points ``source_url`` at a database
that has them.

Timestamps are naive UTC. On SQLite they are stored as ``YYYY-MM-DD HH:MM:SS`` text so that
range comparisons in SQL and parsing in polars agree exactly.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
)
from sqlalchemy.dialects import sqlite

SQLITE_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"

Timestamp = DateTime().with_variant(
    sqlite.DATETIME(
        storage_format="%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d",
        regexp=r"(\d+)-(\d+)-(\d+) (\d+):(\d+):(\d+)",
    ),
    "sqlite",
)

metadata = MetaData()

# VerifyHuman: one row per verification attempt.
verification_events = Table(
    "verification_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", Integer, nullable=False),
    Column("env", String(8), nullable=False),  # test | live
    Column("created_at", Timestamp, nullable=False),
    Column("product", String(32), nullable=False),
    Column("api_key_id", String(40), nullable=False),
    Column("widget_id", String(40), nullable=False),
    Column("outcome", String(16), nullable=False),  # passed | failed | challenged | error
    Column("risk_score", Float, nullable=False),  # 0..100
    Column("confidence", Float, nullable=False),  # 0..1
    Column("latency_ms", Integer, nullable=False),
    Column("country", String(2), nullable=False),
    Column("api_version", String(8), nullable=False),  # v1 | v2.1
    Column("credits", Float, nullable=False),
    Index("ix_verification_events_account_env_created", "account_id", "env", "created_at"),
)

# HiEnergy: affiliate advertisers, their deals and the clicks on them.
advertisers = Table(
    "advertisers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", Integer, nullable=False),
    Column("name", String(120), nullable=False),
    Column("domain", String(120), nullable=False),
    Column("category", String(40), nullable=False),
    Column("country", String(2), nullable=False),
    Column("network", String(40), nullable=False),
    Column("status", String(16), nullable=False),  # active | paused | pending
    Column("commission_rate", Float, nullable=False),  # 0..1
    Column("epc", Float, nullable=False),  # earnings per click
    Column("created_at", Timestamp, nullable=False),
    Index("ix_advertisers_account", "account_id", "id"),
)

deals = Table(
    "deals",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", Integer, nullable=False),
    Column("advertiser_id", Integer, nullable=False),
    Column("title", String(200), nullable=False),
    Column("code", String(40), nullable=True),
    Column("category", String(40), nullable=False),
    Column("discount_pct", Float, nullable=False),
    Column("starts_at", Timestamp, nullable=False),
    Column("ends_at", Timestamp, nullable=False),
    Column("exclusive", Boolean, nullable=False),
    Index("ix_deals_account", "account_id", "id"),
)

clicks = Table(
    "clicks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", Integer, nullable=False),
    Column("advertiser_id", Integer, nullable=False),
    Column("deal_id", Integer, nullable=True),
    Column("clicked_at", Timestamp, nullable=False),
    Column("country", String(2), nullable=False),
    Column("device", String(16), nullable=False),  # desktop | mobile | tablet
    Column("sub_id", String(64), nullable=True),
    Column("converted", Boolean, nullable=False),
    Column("revenue", Float, nullable=False),
    Index("ix_clicks_account_clicked", "account_id", "clicked_at"),
)

# Webhooks: the message log of a project.
webhook_messages = Table(
    "webhook_messages",
    metadata,
    Column("id", String(36), primary_key=True),  # UUIDv7 text
    Column("seq", Integer, nullable=False, unique=True),  # load order; stable tie-break
    Column("account_id", Integer, nullable=False),
    Column("project_id", String(40), nullable=False),
    Column("direction", String(8), nullable=False),  # outbound | inbound
    Column("endpoint_id", String(36), nullable=True),  # outbound endpoint (UUID)
    Column("inbound_endpoint_id", String(36), nullable=True),
    Column("event_type", String(64), nullable=False),
    Column("status", String(24), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("response_status", Integer, nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("last_attempt_at", Timestamp, nullable=True),
    Index("ix_webhook_messages_project_created", "project_id", "created_at"),
)
