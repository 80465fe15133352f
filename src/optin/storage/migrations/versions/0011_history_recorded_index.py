"""recorded_at in the member histories' covering indexes

A decision as of T uses only the country and status changes recorded by T (as it does
for consent events since 0009); the newest-first covering indexes of
``member_countries`` and ``member_statuses`` gain ``recorded_at`` so that the bulk
projection still answers "country / status at T, known at T" from the index alone.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES: dict[str, tuple[str, str]] = {
    "member_countries": ("ix_member_countries_member_since", "country"),
    "member_statuses": ("ix_member_statuses_member_since", "status"),
}


def _cols(value: str) -> list[Any]:
    return ["member_id", sa.text("since DESC"), sa.text("id DESC"), value]


def upgrade() -> None:
    for table, (name, value) in _INDEXES.items():
        op.drop_index(name, table_name=table)
        op.create_index(name, table, [*_cols(value), "recorded_at"], unique=False)


def downgrade() -> None:
    for table, (name, value) in _INDEXES.items():
        op.drop_index(name, table_name=table)
        op.create_index(name, table, _cols(value), unique=False)
