"""transparency log: leaves, stored subtree hashes, tree state, checkpoints

The tree over an existing ledger is built by ``optin log rebuild`` (or the first
``integrate``), in ledger order.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tlog_leaves",
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("salt", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("idx", name=op.f("pk_tlog_leaves")),
        sa.UniqueConstraint("event_id", name=op.f("uq_tlog_leaves_event_id")),
    )
    op.create_table(
        "tlog_nodes",
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name=op.f("pk_tlog_nodes")),
    )
    op.create_table(
        "tlog_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tlog_state")),
    )
    op.create_table(
        "tlog_checkpoints",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("cosigned", sa.Text(), nullable=False),
        sa.Column("cosigners", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("size", name=op.f("pk_tlog_checkpoints")),
    )


def downgrade() -> None:
    for table in ("tlog_checkpoints", "tlog_state", "tlog_nodes", "tlog_leaves"):
        op.drop_table(table)
