"""Progress of a retried run: ``rows_reused`` counts rows kept from an earlier run.

Revision ID: 0005_progress
Revises: 0004_idempotency_keys
Create Date: 2026-12-02

A retried flow run starts with the rows of the chunks an earlier run staged already done;
the ETA measures the rate of this run only (``rows_done - rows_reused`` since
``started_at``), so kept chunks do not make a retry look faster than it is.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_progress"
down_revision: str | Sequence[str] | None = "0004_idempotency_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the rows_reused column."""
    with op.batch_alter_table("export_jobs") as batch:
        batch.add_column(
            sa.Column("rows_reused", sa.BigInteger(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    """Drop it again."""
    with op.batch_alter_table("export_jobs") as batch:
        batch.drop_column("rows_reused")
