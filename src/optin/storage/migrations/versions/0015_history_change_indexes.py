"""history change indexes: the members whose history changed since a snapshot, found by
index (an incremental build reads O(changes) rows, not the whole ledger)

Adds ``ix_consent_events_purpose_recorded`` (purpose, recorded_at) and, on
``member_countries`` and ``member_statuses``, ``..._since`` and ``..._recorded`` indexes
(``storage.history.changed_members`` selects each window by one of them). Nothing
existing changes.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = [
    ("ix_consent_events_purpose_recorded", "consent_events", ["purpose", "recorded_at"]),
    ("ix_member_countries_since", "member_countries", ["since"]),
    ("ix_member_countries_recorded", "member_countries", ["recorded_at"]),
    ("ix_member_statuses_since", "member_statuses", ["since"]),
    ("ix_member_statuses_recorded", "member_statuses", ["recorded_at"]),
]


def upgrade() -> None:
    for name, table, columns in _INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(_INDEXES):
        op.drop_index(name, table_name=table)
