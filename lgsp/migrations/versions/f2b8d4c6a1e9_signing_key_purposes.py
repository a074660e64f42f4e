"""signing keys get a purpose: token keys sign access tokens, seal keys log batches

Keys that exist already signed both; they become "legacy": they sign nothing from now on (the
platform creates a token key and a seal key at its next start and retires them), stay published
for the tokens they signed and keep verifying the batches they sealed.

Revision ID: f2b8d4c6a1e9
Revises: e7a9c1d3f5b2
Create Date: 2026-12-02 19:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f2b8d4c6a1e9"
down_revision: str | None = "e7a9c1d3f5b2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("signing_keys") as batch:
        batch.add_column(
            sa.Column("purpose", sa.String(length=16), server_default="token", nullable=False)
        )
    op.execute("UPDATE signing_keys SET purpose = 'legacy'")


def downgrade() -> None:
    with op.batch_alter_table("signing_keys") as batch:
        batch.drop_column("purpose")
