"""models: the model registry (trained models, versions, components, training sets)

Adds ``models``, ``model_versions``, ``model_components``, ``model_version_components``
and ``model_records`` (see :mod:`optin.storage.model_tables`). Nothing existing changes.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_T = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("created_at", _T, nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("base", sa.Text(), nullable=False),
        sa.Column("shards", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("needs_retrain_records", sa.BigInteger(), nullable=False),
        sa.Column("needs_retrain_reason", sa.Text(), nullable=True),
        sa.Column("needs_retrain_at", _T, nullable=True),
        sa.Column("retired_at", _T, nullable=True),
        sa.Column("retired_reason", sa.Text(), nullable=True),
        sa.Column("superseded_by", sa.String(64), nullable=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_models"),
    )
    op.create_table(
        "model_versions",
        sa.Column("model_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("snapshot_id", sa.String(64), nullable=False),
        sa.Column("created_at", _T, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("ended_at", _T, nullable=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("privacy", sa.Text(), nullable=False),
        sa.Column("card", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["models.id"],
            name="fk_model_versions_model_id_models",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("model_id", "version", name="pk_model_versions"),
    )
    op.create_table(
        "model_components",
        sa.Column("id", sa.String(96), nullable=False),
        sa.Column("model_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("cohort", sa.Integer(), nullable=True),
        sa.Column("trained_in", sa.Integer(), nullable=False),
        sa.Column("snapshot_id", sa.String(64), nullable=False),
        sa.Column("records", sa.BigInteger(), nullable=False),
        sa.Column("members", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("destroyed_at", _T, nullable=True),
        sa.Column("destroyed_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["models.id"],
            name="fk_model_components_model_id_models",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_model_components"),
    )
    op.create_index("ix_model_components_model", "model_components", ["model_id"])
    op.create_table(
        "model_version_components",
        sa.Column("model_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("component_id", sa.String(96), nullable=False),
        sa.ForeignKeyConstraint(
            ["component_id"],
            ["model_components.id"],
            name="fk_model_version_components_component_id_model_components",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "model_id", "version", "component_id", name="pk_model_version_components"
        ),
    )
    op.create_table(
        "model_records",
        sa.Column("component_id", sa.String(96), nullable=False),
        sa.Column("record_id", sa.String(64), nullable=False),
        sa.Column("snapshot_id", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["component_id"],
            ["model_components.id"],
            name="fk_model_records_component_id_model_components",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("component_id", "record_id", name="pk_model_records"),
    )
    op.create_index("ix_model_records_record", "model_records", ["record_id"])


def downgrade() -> None:
    op.drop_index("ix_model_records_record", table_name="model_records")
    op.drop_table("model_records")
    op.drop_table("model_version_components")
    op.drop_index("ix_model_components_model", table_name="model_components")
    op.drop_table("model_components")
    op.drop_table("model_versions")
    op.drop_table("models")
