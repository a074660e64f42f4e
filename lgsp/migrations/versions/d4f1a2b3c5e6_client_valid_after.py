"""oauth clients: valid_after (tokens issued before it are refused) and from_config

Revision ID: d4f1a2b3c5e6
Revises: c3a7e2d91f04
Create Date: 2026-12-02 18:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import lgsp.kit.db

revision: str = "d4f1a2b3c5e6"
down_revision: str | None = "c3a7e2d91f04"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("oauth_clients", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("valid_after", lgsp.kit.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("from_config", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    # A client already disabled or rotated: its tokens from before that moment stay refused.
    op.execute(
        "UPDATE oauth_clients SET valid_after = COALESCE(disabled_at, secret_rotated_at) "
        "WHERE disabled_at IS NOT NULL OR secret_rotated_at IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("oauth_clients", schema=None) as batch_op:
        batch_op.drop_column("from_config")
        batch_op.drop_column("valid_after")
