"""policy_versions.in_force_at; recorded_at in the consent events' covering index

``in_force_at``: when a policy version starts to apply (NULL: when it is effective), so a
version that introduces an opt-out is published now and applies after its notice period.
Existing versions keep NULL (they applied when published).

The covering index of the bulk projection gains ``recorded_at``: a decision as of T uses
only the events recorded by T, and the index still answers it without reading the table.
Events keep the ``recorded_at`` the append gave them.

Revision ID: 0009
Revises: 0007
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEX = "ix_consent_events_member_purpose_at"
_COLS: list[Any] = [
    "member_id",
    "purpose",
    sa.text("at DESC"),
    sa.text("seq DESC"),
    "action",
    "policy_version",
    "event_id",
]


def upgrade() -> None:
    with op.batch_alter_table("policy_versions") as batch:
        batch.add_column(sa.Column("in_force_at", sa.DateTime(timezone=True), nullable=True))
    op.drop_index(_INDEX, table_name="consent_events")
    op.create_index(_INDEX, "consent_events", [*_COLS, "recorded_at"], unique=False)


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="consent_events")
    op.create_index(_INDEX, "consent_events", _COLS, unique=False)
    with op.batch_alter_table("policy_versions") as batch:
        batch.drop_column("in_force_at")
