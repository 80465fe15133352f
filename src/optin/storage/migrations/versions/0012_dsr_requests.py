"""data-subject requests: the request queue, its dated history, single-use downloads

* ``dsr_requests``: one row per request (kind, state, channel, who opened it, receipt
  time, the deadline rule with its zone and the computed deadlines, identity check,
  link to an earlier duplicate, the access package file while it exists).
* ``dsr_request_events``: every change of state, dated, with who did it, the reason and
  the notice the member was sent.
* ``dsr_downloads``: single-use download links for access packages (token SHA-256 only).

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _dt(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "dsr_requests",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("member_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("opened_by", sa.String(200), nullable=False),
        _dt("received_at"),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("country", sa.String(2), nullable=True),
        _dt("due_at"),
        _dt("extended_due_at", True),
        sa.Column("identity_method", sa.Text(), nullable=True),
        _dt("verified_at", True),
        sa.Column("duplicate_of", sa.String(40), nullable=True),
        _dt("closed_at", True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("package_path", sa.Text(), nullable=True),
        sa.Column("package_sha256", sa.String(64), nullable=True),
        _dt("package_expires_at", True),
        _dt("package_removed_at", True),
        sa.PrimaryKeyConstraint("id", name="pk_dsr_requests"),
    )
    op.create_index("ix_dsr_requests_member_kind", "dsr_requests", ["member_id", "kind", "state"])
    op.create_index("ix_dsr_requests_state_due", "dsr_requests", ["state", "due_at"])
    op.create_table(
        "dsr_request_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(40), nullable=False),
        _dt("at"),
        sa.Column("from_state", sa.String(16), nullable=True),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("notice", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["dsr_requests.id"],
            name="fk_dsr_request_events_request_id_dsr_requests",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_dsr_request_events"),
    )
    op.create_index("ix_dsr_request_events_request", "dsr_request_events", ["request_id", "id"])
    op.create_table(
        "dsr_downloads",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("request_id", sa.String(40), nullable=False),
        sa.Column("member_id", sa.String(64), nullable=False),
        _dt("created_at"),
        _dt("expires_at"),
        _dt("used_at", True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["dsr_requests.id"],
            name="fk_dsr_downloads_request_id_dsr_requests",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name="pk_dsr_downloads"),
    )
    op.create_index("ix_dsr_downloads_request", "dsr_downloads", ["request_id"])


def downgrade() -> None:
    op.drop_index("ix_dsr_downloads_request", table_name="dsr_downloads")
    op.drop_table("dsr_downloads")
    op.drop_index("ix_dsr_request_events_request", table_name="dsr_request_events")
    op.drop_table("dsr_request_events")
    op.drop_index("ix_dsr_requests_state_due", table_name="dsr_requests")
    op.drop_index("ix_dsr_requests_member_kind", table_name="dsr_requests")
    op.drop_table("dsr_requests")
