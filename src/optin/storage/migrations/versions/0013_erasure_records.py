"""erasure: field-level erasure records and the erased members' directory markers

* ``erasure_records``: one row per place an erasure reached (what, where, how many,
  when, by which request and actor); no personal data.
* ``members.erasure_marker``: an erased member's directory entry as keyed hashes (JSON),
  so other members' texts that mention them are still redacted.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "erasure_records",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("erasure_id", sa.String(length=36), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("place", sa.String(length=64), nullable=False),
        sa.Column("what", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=True),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasure_records")),
    )
    op.create_index("ix_erasure_records_member", "erasure_records", ["member_id"])
    op.create_index("ix_erasure_records_erasure", "erasure_records", ["erasure_id"])
    # added in place (members is never copied: on SQLite a copy would cascade)
    op.add_column("members", sa.Column("erasure_marker", sa.Text(), nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":  # in place (SQLite >= 3.35), never a copy
        op.execute("ALTER TABLE members DROP COLUMN erasure_marker")
    else:
        op.drop_column("members", "erasure_marker")
    op.drop_index("ix_erasure_records_erasure", table_name="erasure_records")
    op.drop_index("ix_erasure_records_member", table_name="erasure_records")
    op.drop_table("erasure_records")
