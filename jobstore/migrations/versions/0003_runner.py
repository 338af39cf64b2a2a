"""Which process runs a job: ``runner`` is ``host:pid`` of its flow run's process.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

Written when the flow run marks its job running; operators (and the chaos tests) find
the process of a stuck or suspect job by it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the runner column."""
    with op.batch_alter_table("export_jobs") as batch:
        batch.add_column(sa.Column("runner", sa.String(120)))


def downgrade() -> None:
    """Drop it again."""
    with op.batch_alter_table("export_jobs") as batch:
        batch.drop_column("runner")
