"""newest-first covering indexes for point-in-time lookups

The projection asks for the newest country/status/consent event at or before T per
member; with (since DESC, id DESC) and (at DESC, seq DESC) that is the first index entry,
on SQLite and PostgreSQL alike, with no sort.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES: dict[str, tuple[str, list[Any], list[str]]] = {
    "member_countries": (
        "ix_member_countries_member_since",
        ["member_id", sa.text("since DESC"), sa.text("id DESC"), "country"],
        ["member_id", "since", "id", "country"],
    ),
    "member_statuses": (
        "ix_member_statuses_member_since",
        ["member_id", sa.text("since DESC"), sa.text("id DESC"), "status"],
        ["member_id", "since", "id", "status"],
    ),
    "consent_events": (
        "ix_consent_events_member_purpose_at",
        [
            "member_id",
            "purpose",
            sa.text("at DESC"),
            sa.text("seq DESC"),
            "action",
            "policy_version",
            "event_id",
        ],
        ["member_id", "purpose", "at", "seq", "action", "policy_version", "event_id"],
    ),
}


def upgrade() -> None:
    for table, (name, cols, _old) in _INDEXES.items():
        op.drop_index(name, table_name=table)
        op.create_index(name, table, cols, unique=False)


def downgrade() -> None:
    for table, (name, _cols, old) in _INDEXES.items():
        op.drop_index(name, table_name=table)
        op.create_index(name, table, old, unique=False)
