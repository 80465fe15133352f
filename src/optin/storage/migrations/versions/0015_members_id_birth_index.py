"""a covering index for the bulk projection's driving scan of members

The point-in-time projection reads every member id in order with the member's birth
date. On SQLite the text primary key is a separate index, so that scan looked up each
member's table row for the birth date; ``(id, birth_date)`` answers it from the index
alone (an index-only scan on PostgreSQL too). Measured by ``bench/eligibility.py``: the
projection's SQL 15% less CPU on SQLite at 200k members. No data changes.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_members_id_birth", "members", ["id", "birth_date"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_members_id_birth", table_name="members")
