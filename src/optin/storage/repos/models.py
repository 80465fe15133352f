"""Model registry SQL: models, versions, components and their training sets
(tables in :mod:`optin.storage.model_tables`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from optin.storage.model_tables import (
    ModelComponentRow,
    ModelRecordRow,
    ModelRow,
    ModelVersionComponentRow,
    ModelVersionRow,
)
from optin.storage.models import SnapshotRecordRow


def add_model(session: Session, **values: Any) -> ModelRow:
    row = ModelRow(**values)
    session.add(row)
    session.flush()
    return row


def get_model(session: Session, model_id: str) -> ModelRow | None:
    return session.get(ModelRow, model_id)


def list_models(session: Session) -> list[ModelRow]:
    return list(session.execute(select(ModelRow).order_by(ModelRow.created_at.desc())).scalars())


def find_models(session: Session, prefix: str) -> list[str]:
    return list(
        session.execute(
            select(ModelRow.id).where(ModelRow.id.startswith(prefix)).order_by(ModelRow.id)
        ).scalars()
    )


def add_version(session: Session, **values: Any) -> ModelVersionRow:
    row = ModelVersionRow(**values)
    session.add(row)
    session.flush()
    return row


def versions(session: Session, model_id: str) -> list[ModelVersionRow]:
    return list(
        session.execute(
            select(ModelVersionRow)
            .where(ModelVersionRow.model_id == model_id)
            .order_by(ModelVersionRow.version)
        ).scalars()
    )


def get_version(session: Session, model_id: str, version: int) -> ModelVersionRow | None:
    return session.get(ModelVersionRow, (model_id, version))


def add_component(
    session: Session, *, records: Sequence[tuple[str, str]], **values: Any
) -> ModelComponentRow:
    """A trained part and its training set (``records``: (snapshot id, record id))."""
    row = ModelComponentRow(records=len(records), **values)
    session.add(row)
    session.flush()
    batch = [{"component_id": row.id, "snapshot_id": s, "record_id": r} for s, r in records]
    for i in range(0, len(batch), 5_000):
        session.execute(insert(ModelRecordRow), batch[i : i + 5_000])
    return row


def link(session: Session, model_id: str, version: int, component_ids: Iterable[str]) -> None:
    for cid in component_ids:
        session.add(ModelVersionComponentRow(model_id=model_id, version=version, component_id=cid))
    session.flush()


def components(session: Session, model_id: str) -> list[ModelComponentRow]:
    return list(
        session.execute(
            select(ModelComponentRow)
            .where(ModelComponentRow.model_id == model_id)
            .order_by(ModelComponentRow.trained_in, ModelComponentRow.name)
        ).scalars()
    )


def version_components(session: Session, model_id: str) -> dict[int, list[str]]:
    """version -> component ids it uses."""
    out: dict[int, list[str]] = {}
    for v, cid in session.execute(
        select(ModelVersionComponentRow.version, ModelVersionComponentRow.component_id)
        .where(ModelVersionComponentRow.model_id == model_id)
        .order_by(ModelVersionComponentRow.version, ModelVersionComponentRow.component_id)
    ):
        out.setdefault(int(v), []).append(str(cid))
    return out


def component_records(session: Session, component_id: str) -> list[tuple[str, str]]:
    """(snapshot id, record id) of one part's training set."""
    return [
        (str(s), str(r))
        for s, r in session.execute(
            select(ModelRecordRow.snapshot_id, ModelRecordRow.record_id)
            .where(ModelRecordRow.component_id == component_id)
            .order_by(ModelRecordRow.record_id)
        )
    ]


def component_authors(session: Session, component_id: str) -> dict[str, int]:
    """member id -> records of theirs in one part's training set (via provenance)."""
    q = (
        select(SnapshotRecordRow.author_id, func.count())
        .join(
            ModelRecordRow,
            (ModelRecordRow.snapshot_id == SnapshotRecordRow.snapshot_id)
            & (ModelRecordRow.record_id == SnapshotRecordRow.record_id),
        )
        .where(ModelRecordRow.component_id == component_id)
        .group_by(SnapshotRecordRow.author_id)
    )
    return {str(a): int(n) for a, n in session.execute(q)}


def member_components(session: Session, member_id: str) -> dict[str, int]:
    """component id -> records of ``member_id`` in its training set."""
    q = (
        select(ModelRecordRow.component_id, func.count())
        .join(
            SnapshotRecordRow,
            (ModelRecordRow.snapshot_id == SnapshotRecordRow.snapshot_id)
            & (ModelRecordRow.record_id == SnapshotRecordRow.record_id),
        )
        .where(SnapshotRecordRow.author_id == member_id)
        .group_by(ModelRecordRow.component_id)
    )
    return {str(c): int(n) for c, n in session.execute(q)}


def models_of_components(session: Session, component_ids: Sequence[str]) -> list[str]:
    if not component_ids:
        return []
    return sorted(
        {
            str(m)
            for m in session.execute(
                select(ModelComponentRow.model_id).where(
                    ModelComponentRow.id.in_(list(component_ids))
                )
            ).scalars()
        }
    )


def models_trained_on(session: Session, snapshot_ids: Sequence[str]) -> list[ModelRow]:
    """Models (not retired) one of whose live parts trained on ``snapshot_ids``."""
    if not snapshot_ids:
        return []
    ids = select(ModelComponentRow.model_id).where(
        ModelComponentRow.snapshot_id.in_(list(snapshot_ids)),
        ModelComponentRow.status == "live",
    )
    return list(
        session.execute(
            select(ModelRow).where(ModelRow.id.in_(ids), ModelRow.status != "retired")
        ).scalars()
    )


def destroy_component(session: Session, component_id: str, *, at: datetime, reason: str) -> None:
    session.execute(
        update(ModelComponentRow)
        .where(ModelComponentRow.id == component_id)
        .values(status="destroyed", destroyed_at=at, destroyed_reason=reason)
    )


__all__ = [
    "add_component",
    "add_model",
    "add_version",
    "component_authors",
    "component_records",
    "components",
    "destroy_component",
    "find_models",
    "get_model",
    "get_version",
    "link",
    "list_models",
    "member_components",
    "models_of_components",
    "models_trained_on",
    "version_components",
    "versions",
]


def affected_parts(session: Session, record_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """model id -> {live component id -> how many of ``record_ids`` its training set
    holds} (a derived snapshot keeps its parent's record ids, so ids match across a
    snapshot's family)."""
    out: dict[str, dict[str, int]] = {}
    ids = list(record_ids)
    for i in range(0, len(ids), 900):
        q = (
            select(ModelComponentRow.model_id, ModelComponentRow.id, func.count())
            .join(ModelRecordRow, ModelRecordRow.component_id == ModelComponentRow.id)
            .where(
                ModelComponentRow.status == "live",
                ModelRecordRow.record_id.in_(ids[i : i + 900]),
            )
            .group_by(ModelComponentRow.model_id, ModelComponentRow.id)
        )
        for mid, cid, n in session.execute(q):
            cur = out.setdefault(str(mid), {})
            cur[str(cid)] = cur.get(str(cid), 0) + int(n)
    return out


__all__ += ["affected_parts"]
