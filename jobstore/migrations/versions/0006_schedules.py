"""Recurring exports that an account manages itself: the ``schedules`` table.

Revision ID: 0006_schedules
Revises: 0005_progress
Create Date: 2026-12-02

Each row is one schedule's definition (surface, report, format, filters, relative range,
cron and time zone, paused) and the id of the Prefect deployment schedule that fires it.
Jobs it makes name it in ``export_jobs.schedule_id`` (a column since 0002).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_schedules"
down_revision: str | Sequence[str] | None = "0005_progress"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the schedules table."""
    op.create_table(
        "schedules",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("name", sa.String(120)),
        sa.Column("surface", sa.String(16), nullable=False),
        sa.Column("report_type", sa.String(64), nullable=False),
        sa.Column("format", sa.String(8), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("range", sa.String(16), nullable=False),
        sa.Column("cron", sa.String(120), nullable=False),
        sa.Column("preset", sa.String(16)),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False, server_default="0"),
        sa.Column("prefect_schedule_id", sa.String(36)),
        sa.Column("created_by", sa.String(200)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_schedules_account_id", "schedules", ["account_id"])


def downgrade() -> None:
    """Drop it again."""
    op.drop_index("ix_schedules_account_id", table_name="schedules")
    op.drop_table("schedules")
