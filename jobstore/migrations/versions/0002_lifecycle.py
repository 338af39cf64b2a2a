"""Lifecycle and progress of export jobs: launches that cannot be lost, liveness, progress.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02

- ``launch_mode``: ``deployment`` (a launcher creates the flow run: the API's outbox
  delivery or the reconciler) or ``local`` (the CLI runs the flow in its own process).
- ``launch_attempts`` / ``launch_claimed_until``: the outbox lease of a queued job that has
  no flow run yet; a launcher claims it, creates the run (idempotently), records its id.
- ``heartbeat_at``: written by a running flow run every few seconds; the reconciler fails a
  running job whose heartbeat stopped.
- ``error_detail``: what operators see of a failure (exception text, internal addresses);
  ``error_message`` is what clients see.
- ``stage``, ``rows_done``, ``rows_estimated``, ``progress_at``: live progress for an ETA.
- ``schedule_id``: the recurring export that made the job, if one did.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the lifecycle and progress columns and the reconciler's index."""
    with op.batch_alter_table("export_jobs") as batch:
        batch.add_column(
            sa.Column("launch_mode", sa.String(16), nullable=False, server_default="deployment")
        )
        batch.add_column(
            sa.Column("launch_attempts", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("launch_claimed_until", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("error_detail", sa.Text()))
        batch.add_column(sa.Column("stage", sa.String(16)))
        batch.add_column(
            sa.Column("rows_done", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("rows_estimated", sa.BigInteger()))
        batch.add_column(sa.Column("progress_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("schedule_id", sa.String(36)))
    op.create_index("ix_export_jobs_schedule_id", "export_jobs", ["schedule_id"])


def downgrade() -> None:
    """Drop them again."""
    op.drop_index("ix_export_jobs_schedule_id", table_name="export_jobs")
    with op.batch_alter_table("export_jobs") as batch:
        for name in (
            "schedule_id",
            "progress_at",
            "rows_estimated",
            "rows_done",
            "stage",
            "error_detail",
            "heartbeat_at",
            "launch_claimed_until",
            "launch_attempts",
            "launch_mode",
        ):
            batch.drop_column(name)
