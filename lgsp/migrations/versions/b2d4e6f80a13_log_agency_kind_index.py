"""log entries: index for auditors' filtered pages (agency, kind, time window)

Revision ID: b2d4e6f80a13
Revises: fca5b89008b7
Create Date: 2026-11-26 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "b2d4e6f80a13"
down_revision: str | None = "fca5b89008b7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_log_entries_agency_kind_at", "log_entries", ["agency", "kind", "at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_log_entries_agency_kind_at", table_name="log_entries")
