"""member keys move out of the database into the key store

Every row of ``member_keys`` becomes an entry of the key store the migration is given
(``config.attributes["keystore"]``, set by ``Database.init``: by default files under
``$OPTIN_HOME/keys`` wrapped by the master key); destroyed keys stay destroyed. Then the
table is dropped, so a copy of the database alone holds no key. Downgrading recreates
the (empty) table; the keys stay in the key store.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import context, op

from optin.errors import ConfigError

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _table() -> sa.TableClause:
    return sa.table(
        "member_keys",
        sa.column("member_id", sa.String),
        sa.column("key", sa.LargeBinary),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("destroyed_at", sa.DateTime(timezone=True)),
    )


def _aware(value: datetime | str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def upgrade() -> None:
    t = _table()
    rows = (
        op.get_bind()
        .execute(sa.select(t.c.member_id, t.c.key, t.c.created_at, t.c.destroyed_at))
        .all()
    )
    if rows:
        store = context.config.attributes.get("keystore")
        if store is None:
            raise ConfigError(
                "migration 0004 moves member keys into the key store; run it through "
                "`optin init` (which knows the data directory)"
            )
        for member_id, key, created_at, destroyed_at in rows:
            if key is not None:
                store.create(member_id, _aware(created_at), key=bytes(key))
            else:
                store.destroy(member_id, _aware(destroyed_at or created_at))
    op.drop_table("member_keys")


def downgrade() -> None:
    op.create_table(
        "member_keys",
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("destroyed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_member_keys")),
    )
