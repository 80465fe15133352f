"""provider registry, provider exports, export records and the deletion-notice outbox

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time(name: str, *, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "providers",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("webhook_url", sa.Text(), nullable=False),
        sa.Column("deadline_days", sa.Integer(), nullable=False),
        _time("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_providers")),
        sa.UniqueConstraint("name", name=op.f("uq_providers_name")),
    )
    op.create_table(
        "provider_exports",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("provider_id", sa.String(length=32), nullable=False),
        sa.Column("snapshot_id", sa.String(length=64), nullable=False),
        sa.Column("format", sa.String(length=32), nullable=False),
        _time("created_at"),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("record_count", sa.BigInteger(), nullable=False),
        sa.Column("policy_version", sa.Integer(), nullable=False),
        sa.Column("legal_basis", sa.String(length=32), nullable=False),
        sa.Column("consent_events", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("stale_count", sa.BigInteger(), nullable=False),
        sa.Column("stale_reason", sa.Text(), nullable=True),
        _time("stale_at", nullable=True),
        sa.Column("manifest_sha256", sa.String(length=64), nullable=False),
        sa.Column("sharing_record", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
            name=op.f("fk_provider_exports_provider_id_providers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_exports")),
    )
    with op.batch_alter_table("provider_exports", schema=None) as batch_op:
        batch_op.create_index("ix_provider_exports_snapshot", ["snapshot_id"], unique=False)

    op.create_table(
        "provider_keys",
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("provider_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["key_id"],
            ["api_keys.id"],
            name=op.f("fk_provider_keys_key_id_api_keys"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
            name=op.f("fk_provider_keys_provider_id_providers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_provider_keys")),
    )
    op.create_table(
        "deletion_notices",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("provider_id", sa.String(length=32), nullable=False),
        sa.Column("export_id", sa.String(length=64), nullable=False),
        _time("created_at"),
        _time("due_at"),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("record_count", sa.Integer(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _time("next_attempt_at"),
        _time("locked_until", nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        _time("delivered_at", nullable=True),
        _time("acked_at", nullable=True),
        sa.Column("acked_by", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["export_id"],
            ["provider_exports.id"],
            name=op.f("fk_deletion_notices_export_id_provider_exports"),
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
            name=op.f("fk_deletion_notices_provider_id_providers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deletion_notices")),
    )
    with op.batch_alter_table("deletion_notices", schema=None) as batch_op:
        batch_op.create_index("ix_deletion_notices_export", ["export_id"], unique=False)
        batch_op.create_index(
            "ix_deletion_notices_pending", ["delivered_at", "next_attempt_at"], unique=False
        )
        batch_op.create_index("ix_deletion_notices_provider", ["provider_id"], unique=False)

    op.create_table(
        "export_records",
        sa.Column("export_id", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("content_id", sa.String(length=64), nullable=False),
        sa.Column("consent_event_id", sa.String(length=36), nullable=True),
        _time("noticed_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["export_id"],
            ["provider_exports.id"],
            name=op.f("fk_export_records_export_id_provider_exports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("export_id", "record_id", name=op.f("pk_export_records")),
    )
    with op.batch_alter_table("export_records", schema=None) as batch_op:
        batch_op.create_index("ix_export_records_content", ["content_id"], unique=False)
        batch_op.create_index("ix_export_records_member", ["member_id"], unique=False)


def downgrade() -> None:
    op.drop_table("export_records")
    op.drop_table("deletion_notices")
    op.drop_table("provider_keys")
    op.drop_table("provider_exports")
    op.drop_table("providers")
