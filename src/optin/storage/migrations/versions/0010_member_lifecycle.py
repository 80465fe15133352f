"""member lifecycle: recorded times on member changes, birth-date corrections,
case-insensitive handles, longer consent sources

* ``member_countries`` and ``member_statuses`` get ``recorded_at`` (when the platform
  recorded the change) and ``source``. Existing rows get ``recorded_at`` = the later of
  ``since`` and the member's ``joined_at`` (what the platform can have known then: a
  change can not have been recorded before the account existed); ``source`` stays null.
* ``member_birth_dates``: recorded birth-date corrections.
* ``members.handle_folded``: the case-folded handle, with a unique index (added in
  place: ``members`` is never copied, which on SQLite would cascade). Existing
  handles are folded here; if two existing members' handles differ only in case the
  migration stops with a message naming them (nothing is changed): rename one first.
* ``consent_events.source`` widens from 16 to 64 characters (``import:<system>``).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from optin.errors import ConfigError

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _fold_handles() -> None:
    bind = op.get_bind()
    members = sa.table(
        "members",
        sa.column("id", sa.String),
        sa.column("handle", sa.String),
        sa.column("handle_folded", sa.String),
    )
    rows = bind.execute(sa.select(members.c.id, members.c.handle).order_by(members.c.id)).all()
    seen: dict[str, tuple[str, str]] = {}
    clashes: list[str] = []
    for mid, handle in rows:
        folded = handle.casefold()
        if folded in seen:
            other_id, other = seen[folded]
            clashes.append(f"{handle!r} (member {mid}) and {other!r} (member {other_id})")
        else:
            seen[folded] = (mid, handle)
    if clashes:
        raise ConfigError(
            "migration 0010 makes handles unique case-insensitively, but these members' "
            "handles differ only in case: "
            + "; ".join(clashes[:20])
            + (f" ... and {len(clashes) - 20} more" if len(clashes) > 20 else "")
            + ". Change one handle of each pair, then run `optin init` again; nothing was "
            "changed"
        )
    for mid, handle in rows:
        bind.execute(
            members.update().where(members.c.id == mid).values(handle_folded=handle.casefold())
        )


def _backfill_recorded(table: str) -> None:
    # recorded_at = max(since, the member's joined_at)
    op.execute(
        sa.text(
            f"UPDATE {table} SET recorded_at = CASE WHEN since >= (SELECT joined_at FROM "
            f"members WHERE members.id = {table}.member_id) THEN since ELSE (SELECT joined_at "
            f"FROM members WHERE members.id = {table}.member_id) END"
        )
    )
    op.execute(sa.text(f"UPDATE {table} SET recorded_at = since WHERE recorded_at IS NULL"))


def upgrade() -> None:
    # never a batch (copy-and-rename) of ``members`` on SQLite: dropping the old table
    # would cascade to every table that references it. A plain ADD COLUMN and an index.
    op.add_column(
        "members",
        sa.Column("handle_folded", sa.String(length=64), nullable=False, server_default=""),
    )
    _fold_handles()
    op.create_index("uq_members_handle_folded", "members", ["handle_folded"], unique=True)
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column("members", "handle_folded", server_default=None)

    for table in ("member_countries", "member_statuses"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=True))
            batch_op.add_column(sa.Column("source", sa.String(length=64), nullable=True))
        _backfill_recorded(table)
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                "recorded_at", existing_type=sa.DateTime(timezone=True), nullable=False
            )

    op.create_table(
        "member_birth_dates",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("previous", sa.Date(), nullable=True),
        sa.Column("effective_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_member_birth_dates_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_birth_dates")),
    )
    op.create_index(
        "ix_member_birth_dates_member", "member_birth_dates", ["member_id", "effective_at"]
    )

    with op.batch_alter_table("consent_events", schema=None) as batch_op:
        batch_op.alter_column(
            "source", existing_type=sa.String(length=16), type_=sa.String(length=64)
        )


def downgrade() -> None:
    with op.batch_alter_table("consent_events", schema=None) as batch_op:
        batch_op.alter_column(
            "source", existing_type=sa.String(length=64), type_=sa.String(length=16)
        )
    op.drop_index("ix_member_birth_dates_member", table_name="member_birth_dates")
    op.drop_table("member_birth_dates")
    for table in ("member_statuses", "member_countries"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("source")
            batch_op.drop_column("recorded_at")
    op.drop_index("uq_members_handle_folded", table_name="members")
    op.execute(sa.text("ALTER TABLE members DROP COLUMN handle_folded"))
