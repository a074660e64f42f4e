"""dossier parties (who may act on a dossier) and dossier roles of message types

Revision ID: c3a7e2d91f04
Revises: b2d4e6f80a13
Create Date: 2026-12-02 18:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import lgsp.kit.db

revision: str = "c3a7e2d91f04"
down_revision: str | None = "b2d4e6f80a13"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dossier_parties",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dossier_code", sa.String(length=200), nullable=False),
        sa.Column("agency", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=True),
        sa.Column("added_at", lgsp.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_dossier_parties_dossier_code", "dossier_parties", ["dossier_code"], unique=False
    )
    with op.batch_alter_table("message_types") as batch:
        batch.add_column(sa.Column("dossier_role", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("message_types") as batch:
        batch.drop_column("dossier_role")
    op.drop_index("ix_dossier_parties_dossier_code", table_name="dossier_parties")
    op.drop_table("dossier_parties")
