"""platform processes report themselves: the adapters each can load, what failed to build

Revision ID: a3c5e7f9b1d2
Revises: f2b8d4c6a1e9
Create Date: 2026-12-03 08:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import lgsp.kit.db

revision: str = "a3c5e7f9b1d2"
down_revision: str | None = "f2b8d4c6a1e9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "platform_processes",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("started_at", lgsp.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("seen_at", lgsp.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("adapters", sa.JSON(), nullable=False),
        sa.Column("adapter_errors", sa.JSON(), nullable=False),
        sa.Column("unbuildable", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_platform_processes")),
    )
    op.create_index(
        op.f("ix_platform_processes_seen_at"), "platform_processes", ["seen_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_platform_processes_seen_at"), table_name="platform_processes")
    op.drop_table("platform_processes")
