"""The job store as it was before migrations: accounts, api_keys, export_jobs.

Revision ID: 0001
Revises:
Create Date: 2026-11-22

Written from ``alembic revision --autogenerate`` against an empty database. Constraints
carry the names PostgreSQL gives unnamed ones, so a store made by ``create_all`` (which
is stamped at this revision) and a migrated one are the same, and later migrations can
name what they alter. Timestamps are ``DateTime(timezone=True)``: the storage type of
``jobstore.models.UTCDateTime`` (migrations never import the models).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp(name: str, *, nullable: bool) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create accounts, api_keys and export_jobs with their keys and indexes."""
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("plan", sa.String(length=16), nullable=False),
        sa.Column("project_id", sa.String(length=40), nullable=False),
        _timestamp("created_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="accounts_pkey"),
        sa.UniqueConstraint("name", name="accounts_name_key"),
        sa.UniqueConstraint("project_id", name="accounts_project_id_key"),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("user_email", sa.String(length=200), nullable=True),
        _timestamp("created_at", nullable=False),
        _timestamp("revoked_at", nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name="api_keys_account_id_fkey"),
        sa.PrimaryKeyConstraint("id", name="api_keys_pkey"),
        sa.UniqueConstraint("key_hash", name="api_keys_key_hash_key"),
    )
    op.create_index("ix_api_keys_account_id", "api_keys", ["account_id"])
    op.create_table(
        "export_jobs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("public_id", sa.String(length=36), nullable=False),
        sa.Column("surface", sa.String(length=16), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=True),
        sa.Column("report_type", sa.String(length=64), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("params_hash", sa.String(length=64), nullable=False),
        # NULL once the job no longer answers identical requests; NULLs never collide.
        sa.Column("dedupe_key", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("flow_run_id", sa.String(length=36), nullable=True),
        sa.Column("parts_done", sa.Integer(), nullable=False),
        sa.Column("parts_total", sa.Integer(), nullable=True),
        sa.Column("row_count", sa.BigInteger(), nullable=True),
        sa.Column("file_size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("filename", sa.String(length=255), nullable=True),
        sa.Column("content_type", sa.String(length=100), nullable=True),
        sa.Column("storage_key", sa.String(length=500), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        _timestamp("created_at", nullable=False),
        _timestamp("updated_at", nullable=False),
        _timestamp("started_at", nullable=True),
        _timestamp("completed_at", nullable=True),
        _timestamp("expires_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="export_jobs_pkey"),
        sa.UniqueConstraint("dedupe_key", name="export_jobs_dedupe_key_key"),
    )
    op.create_index("ix_export_jobs_public_id", "export_jobs", ["public_id"], unique=True)
    op.create_index("ix_export_jobs_account_id", "export_jobs", ["account_id"])
    op.create_index("ix_export_jobs_params_hash", "export_jobs", ["params_hash"])
    op.create_index("ix_export_jobs_state", "export_jobs", ["state"])


def downgrade() -> None:
    """Drop the three tables (and with them every job, key and account)."""
    op.drop_table("export_jobs")
    op.drop_table("api_keys")
    op.drop_table("accounts")
