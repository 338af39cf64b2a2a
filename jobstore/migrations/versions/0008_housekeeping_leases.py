"""One housekeeping pass at a time: the ``housekeeping_leases`` table.

Revision ID: 0008_housekeeping_leases
Revises: 0007_webhook_endpoints
Create Date: 2026-12-06

A row per pass name (``reconcile-exports``, ``cleanup-expired``): who holds it and until
when. It replaces the Prefect deployment concurrency limits of those deployments.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_housekeeping_leases"
down_revision: str | Sequence[str] | None = "0007_webhook_endpoints"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the housekeeping_leases table."""
    op.create_table(
        "housekeeping_leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("held_until", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """Drop the housekeeping_leases table."""
    op.drop_table("housekeeping_leases")
