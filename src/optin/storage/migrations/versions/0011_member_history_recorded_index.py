"""recorded_at in the member countries' and statuses' covering indexes

A decision as of T uses only the country and status changes recorded by T (as it does
consent events since 0009): the bulk projection filters them on ``recorded_at`` too, and
the newest-first covering indexes gain that column so that the filter is still answered
from the index alone (index-only scans on PostgreSQL, covering seeks on SQLite). No
data changes.

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
