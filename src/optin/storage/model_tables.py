"""Tables of the model registry (issue 14): trained models, their versions, the parts
each version is made of, and which snapshot records trained each part.

Registered on :class:`optin.storage.models.Base` (``models`` imports this module).

* ``models`` - one row per model: how it was made (base, shards), its state
  (``active``, ``needs_retrain`` with the count of affected records and why,
  ``retired`` with the time, reason and successor) and its current version.
* ``model_versions`` - one row per version: the snapshot it was trained on, the model
  card (JSON), the privacy guarantee (JSON), its state (``current``, ``superseded``,
  ``retired``) and the directory (relative to the data directory).
* ``model_components`` - the trained parts: the whole model (``cohort`` NULL) or one
  cohort's LoRA adapter. ``status`` is ``live`` until its files are destroyed
  (``destroyed_at`` and why), which happens when a retrain replaces it.
* ``model_version_components`` - which parts each version uses (an unaffected adapter
  is carried from one version to the next).
* ``model_records`` - the training set of each part, as snapshot record ids (the
  snapshot's provenance rows lead to members); kept after the part is destroyed, so a
  member can see which versions held their content and which no longer do.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from optin.storage.models import Base, UTCDateTime


class ModelRow(Base):
    __tablename__ = "models"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    purpose: Mapped[str] = mapped_column(String(64))
    base: Mapped[str] = mapped_column(Text)  # "tiny" or the base model's directory
    shards: Mapped[int] = mapped_column(Integer, default=0)  # 0: not sharded
    status: Mapped[str] = mapped_column(String(16))  # active | needs_retrain | retired
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    needs_retrain_records: Mapped[int] = mapped_column(BigInteger, default=0)
    needs_retrain_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    needs_retrain_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    retired_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    superseded_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    path: Mapped[str] = mapped_column(Text)  # relative to the data directory


class ModelVersionRow(Base):
    __tablename__ = "model_versions"

    model_id: Mapped[str] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    snapshot_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))  # current | superseded | retired
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    path: Mapped[str] = mapped_column(Text)  # relative to the data directory
    privacy: Mapped[str] = mapped_column(Text, default="{}")  # JSON
    card: Mapped[str] = mapped_column(Text, default="{}")  # JSON: the model card


class ModelComponentRow(Base):
    __tablename__ = "model_components"

    id: Mapped[str] = mapped_column(String(96), primary_key=True)  # <model>/<name>
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))  # "model" or "cohort-03-v2"
    cohort: Mapped[int | None] = mapped_column(Integer, nullable=True)
    trained_in: Mapped[int] = mapped_column(Integer)  # the version that trained it
    snapshot_id: Mapped[str] = mapped_column(String(64))
    records: Mapped[int] = mapped_column(BigInteger, default=0)
    members: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(16))  # live | destroyed
    destroyed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    destroyed_reason: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (Index("ix_model_components_model", "model_id"),)


class ModelVersionComponentRow(Base):
    __tablename__ = "model_version_components"

    model_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    component_id: Mapped[str] = mapped_column(
        ForeignKey("model_components.id", ondelete="CASCADE"), primary_key=True
    )


class ModelRecordRow(Base):
    __tablename__ = "model_records"

    component_id: Mapped[str] = mapped_column(
        ForeignKey("model_components.id", ondelete="CASCADE"), primary_key=True
    )
    record_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    snapshot_id: Mapped[str] = mapped_column(String(64))

    __table_args__ = (Index("ix_model_records_record", "record_id"),)


__all__ = [
    "ModelComponentRow",
    "ModelRecordRow",
    "ModelRow",
    "ModelVersionComponentRow",
    "ModelVersionRow",
]
