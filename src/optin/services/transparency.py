"""'Your data and AI': which snapshots included a member's content, which items, and
what was redacted in each (before = the original text in ``content_items``, after = the
redacted text read back from the snapshot's shard via the provenance ``record_id``).

Only ever called with the session's member id; a snapshot holding none of the member's
items is 'not found' for them, whether or not it exists.
"""

from __future__ import annotations

import difflib
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from optin.errors import NotFoundError
from optin.services.snapshots import SnapshotSummary, snapshot_dir
from optin.storage import lineage as lineage_repo
from optin.storage import snapshots as repo
from optin.storage.database import Database

log = logging.getLogger(__name__)

_TOKENS = re.compile(r"\s+|\w+|[^\w\s]", re.UNICODE)


@dataclass(frozen=True, slots=True)
class SnapshotUse:
    """A snapshot (its :class:`SnapshotSummary`) and how many of the member's items it
    holds."""

    snapshot: SnapshotSummary
    items: int

    @property
    def snapshot_id(self) -> str:
        return self.snapshot.id

    @property
    def purpose(self) -> str:
        return self.snapshot.purpose

    @property
    def as_of(self) -> datetime:
        return self.snapshot.as_of

    @property
    def built_at(self) -> datetime | None:
        return self.snapshot.built_at

    @property
    def status(self) -> str:
        return self.snapshot.status


@dataclass(frozen=True, slots=True)
class Segment:
    op: str  # same | del | ins
    text: str


@dataclass(slots=True)
class ItemView:
    content_id: str
    record_id: str
    kind: str
    created_at: datetime | None
    before: str | None  # None once the content was deleted or erased
    after: str | None  # None when the shard could not be read
    before_segments: list[Segment] = field(default_factory=list)
    after_segments: list[Segment] = field(default_factory=list)

    @property
    def redactions(self) -> int:
        return sum(1 for s in self.after_segments if s.op == "ins")


@dataclass(slots=True)
class SnapshotDetail:
    use: SnapshotUse
    items: list[ItemView]
    total: int
    unreadable_shards: list[str] = field(default_factory=list)


def snapshot_uses(db: Database, member_id: str) -> list[SnapshotUse]:
    """Every snapshot that included at least one of the member's items, newest first."""
    with db.session() as s:
        rows = repo.member_snapshots(s, member_id)
        stale = lineage_repo.stale_summary(s, [r.id for r, _ in rows])
        return [SnapshotUse(SnapshotSummary.from_row(r, stale=stale.get(r.id)), n) for r, n in rows]


def diff_segments(before: str, after: str) -> tuple[list[Segment], list[Segment]]:
    """Token diff: what was removed from ``before`` and inserted into ``after``."""
    a = _TOKENS.findall(before)
    b = _TOKENS.findall(after)
    left: list[Segment] = []
    right: list[Segment] = []
    sm = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        if op == "equal":
            left.append(Segment("same", "".join(a[i1:i2])))
            right.append(Segment("same", "".join(b[j1:j2])))
            continue
        if i2 > i1:
            left.append(Segment("del", "".join(a[i1:i2])))
        if j2 > j1:
            right.append(Segment("ins", "".join(b[j1:j2])))
    return left, right


def _read_shard_texts(path: Path, record_ids: set[str]) -> dict[str, str]:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["record_id", "text"])
    mask = pc.is_in(table["record_id"], value_set=pa.array(sorted(record_ids)))
    picked = table.filter(mask)
    return dict(zip(picked["record_id"].to_pylist(), picked["text"].to_pylist(), strict=True))


def snapshot_items(
    db: Database, member_id: str, snapshot_id: str, *, limit: int = 200
) -> SnapshotDetail:
    """The member's items in one snapshot, with a before/after view of the redaction."""
    with db.session() as s:
        snap = repo.get_snapshot(s, snapshot_id)
        total = repo.member_record_count(s, snapshot_id, member_id)
        if snap is None or total == 0:
            raise NotFoundError(f"none of your content is in snapshot {snapshot_id!r}")
        rows = repo.member_records(s, snapshot_id, member_id, limit=limit)
        stale = lineage_repo.stale_summary(s, [snap.id]).get(snap.id)
        use = SnapshotUse(SnapshotSummary.from_row(snap, stale=stale), total)
        base = snapshot_dir(db.home, snap.path)
    by_shard: dict[str, set[str]] = {}
    for rec, _content in rows:
        by_shard.setdefault(rec.shard, set()).add(rec.record_id)
    after: dict[str, str] = {}
    unreadable: list[str] = []
    for shard, ids in sorted(by_shard.items()):
        path = Path(shard) if Path(shard).is_absolute() else base / shard
        try:
            after.update(_read_shard_texts(path, ids))
        except Exception as e:  # a missing or damaged shard must not hide the rest
            log.warning(
                "cannot read shard %s of snapshot %s: %s", shard, snapshot_id, type(e).__name__
            )
            unreadable.append(shard)
    items: list[ItemView] = []
    for rec, content in rows:
        before = None
        if content is not None and content.deleted_at is None:
            before = content.text
        red = after.get(rec.record_id)
        item = ItemView(
            rec.content_id,
            rec.record_id,
            content.kind if content else "?",
            content.created_at if content else None,
            before,
            red,
        )
        if before is not None and red is not None:
            item.before_segments, item.after_segments = diff_segments(before, red)
        items.append(item)
    return SnapshotDetail(use, items, total, unreadable)
