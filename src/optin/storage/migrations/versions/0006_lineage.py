"""lineage: derived snapshots, retirement, withdrawal propagation, relative paths

Adds ``snapshots.parent_id`` / ``retired_at`` / ``retired_by``, the
``snapshot_stale_members`` table (records no longer eligible, per snapshot and member,
with the reason), the ``lineage_edges`` table (``snapshot_derived``, ``export``,
``model``), and stores snapshot paths relative to the data directory: every absolute
path that ends in ``snapshots/<id>`` (the only place a build writes) becomes
``snapshots/<id>``, so a copied data directory verifies its own files.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("snapshots") as b:
        b.add_column(sa.Column("parent_id", sa.String(64), nullable=True))
        b.add_column(sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True))
        b.add_column(sa.Column("retired_by", sa.String(64), nullable=True))
    op.create_table(
        "snapshot_stale_members",
        sa.Column("snapshot_id", sa.String(64), nullable=False),
        sa.Column("member_id", sa.String(64), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["snapshots.id"],
            name="fk_snapshot_stale_members_snapshot_id_snapshots",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("snapshot_id", "member_id", name="pk_snapshot_stale_members"),
    )
    op.create_table(
        "lineage_edges",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("src", sa.String(128), nullable=False),
        sa.Column("dst", sa.String(128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("meta", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lineage_edges"),
    )
    op.create_index("ix_lineage_edges_src", "lineage_edges", ["kind", "src"])
    op.create_index("ix_lineage_edges_dst", "lineage_edges", ["kind", "dst"])
    _relative_paths()


def _relative_paths() -> None:
    conn = op.get_bind()
    snaps = sa.table("snapshots", sa.column("id", sa.String), sa.column("path", sa.Text))
    for sid, path in conn.execute(sa.select(snaps.c.id, snaps.c.path)).all():
        norm = str(path).replace("\\", "/").rstrip("/")
        if norm.startswith("/") and norm.endswith(f"/snapshots/{sid}"):
            conn.execute(snaps.update().where(snaps.c.id == sid).values(path=f"snapshots/{sid}"))


def downgrade() -> None:
    op.drop_index("ix_lineage_edges_dst", table_name="lineage_edges")
    op.drop_index("ix_lineage_edges_src", table_name="lineage_edges")
    op.drop_table("lineage_edges")
    op.drop_table("snapshot_stale_members")
    with op.batch_alter_table("snapshots") as b:
        b.drop_column("retired_by")
        b.drop_column("retired_at")
        b.drop_column("parent_id")
