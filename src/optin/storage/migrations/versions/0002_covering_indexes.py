"""covering indexes for the bulk eligibility projection

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NEW = {
    "member_countries": (
        "ix_member_countries_member_since",
        ["member_id", "since", "id", "country"],
        ["member_id", "since"],
    ),
    "member_statuses": (
        "ix_member_statuses_member_since",
        ["member_id", "since", "id", "status"],
        ["member_id", "since"],
    ),
    "consent_events": (
        "ix_consent_events_member_purpose_at",
        ["member_id", "purpose", "at", "seq", "action", "policy_version", "event_id"],
        ["member_id", "purpose", "at", "seq"],
    ),
}


def upgrade() -> None:
    for table, (name, cols, _old) in _NEW.items():
        op.drop_index(name, table_name=table)
        op.create_index(name, table, cols, unique=False)


def downgrade() -> None:
    for table, (name, _cols, old) in _NEW.items():
        op.drop_index(name, table_name=table)
        op.create_index(name, table, old, unique=False)
