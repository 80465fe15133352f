"""Erasure of a member's data (right to erasure): ``optin dsr erase MEMBER``.

::

    report = erase_member(db, settings, "m17", now=now, request_id=42, actor="admin")
    reports = erase_members(db, settings, ids, now=now, actor="ops")   # a batch, one compaction

``settings`` gives the data directory (snapshots, exports, access packages, temporary
files); the member keys come from ``db.keystore`` (the key store of the database handle,
``$OPTIN_HOME/keys``). In order:

1. **Keys**: the member's ledger key is destroyed (crypto-shredding): the encrypted
   personal fields of their ledger events and their transparency-log salts can no
   longer be opened; the chain and every proof stay valid.
2. **Database**, in one transaction (SQLite ``secure_delete`` on): mentions of the
   member in *other* members' texts (name, handle, profile URL, e-mail, as the platform
   directory finds them) are replaced by :data:`MENTION_MARKER`; the member's content,
   country history, birth-date corrections and web sessions are deleted; their row is
   blanked (handle and display name become placeholders, e-mail, birth date and
   password hash cleared), ``erased_at`` set, an ``erased`` status recorded; their
   directory entry becomes an **erasure marker** (keyed hashes of the name tokens,
   handle and URL under the platform's directory key, which lives in the key store), so
   later mentions are still redacted; the sealed salts of their log leaves are cleared;
   a ledger entry for the erasure itself is appended (action ``erase``, purpose ``*``,
   no personal fields). In the data-subject request tables the free texts (identity
   checks, reasons, notices) lose every mention of the member, and the member's own
   requests also lose whatever the personal-data detector finds in them; their access
   packages are recorded as removed and their download links deleted.
3. **Propagation** (:func:`optin.services.propagation.propagate`, reason ``erasure``):
   snapshots holding their records turn stale; exports holding them turn stale and
   deletion notices go to the providers through the outbox.
4. **Snapshots**: each live snapshot that held their records is derived without every
   no-longer-eligible record (:func:`optin.services.derive.derive_snapshot`), its shards
   are shredded and it is retired (superseded by the child; ``optin snapshot verify``
   then says ``retired``); unfinished builds lose their work files and partial shards.
5. **Exports**: the data files of every export that held their records are shredded
   (``manifest.json``, the datasheet and the dataset card stay: hashes and counts, no
   texts; the sharing record and the record ids stay in the database); leftover
   ``.partial`` export directories are shredded.
6. **Models**: models trained from those snapshots or exports (``model`` lineage edges)
   are flagged for retraining in the erasure record.
7. **Files**: access packages under ``$OPTIN_HOME/dsr/`` that are named after the member
   or hold their id, e-mail or handle; leftover temporary files of the atomic writer;
   the demo's ground-truth lines of the erased and rewritten texts.
8. **Compaction** (:func:`optin.storage.erasure.compact`): SQLite ``VACUUM`` and
   ``wal_checkpoint(TRUNCATE)``; PostgreSQL ``VACUUM (FULL, ANALYZE)`` of the tables
   touched (:data:`optin.storage.erasure.COMPACTED_TABLES`, the request tables
   included). Its outcome is an erasure record of its own (``compacted`` or
   ``compaction_incomplete``, with the backend and how many sessions held older
   snapshots) and ``report.compaction``; an incomplete one is logged as a warning and
   the CLI, the request's history and the API say so (``optin dsr compact`` finishes
   it).

Every place reached is written to ``erasure_records`` (what, where, how many, when, by
which request and actor; no personal data). A second call for an erased member redoes
steps 1 and 3 to 8 (a partial erasure is completed) and skips step 2.

Limits (also in the README): database backups, PostgreSQL's WAL archive and the file
system's free blocks are outside the data directory's reach; shredding overwrites a
file before unlinking it, which a copy-on-write file system or an SSD may not honour.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import uuid
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from optin.errors import InputError, NotFoundError
from optin.files import atomic_text, shred, shred_tree, stale_temps
from optin.services.derive import derive_snapshot, retire_snapshot
from optin.services.directory import directory_key, profile_url
from optin.services.policy import policy_set
from optin.services.propagation import propagate
from optin.services.provider_exports import exports_dir
from optin.services.snapshots import snapshot_dir
from optin.settings import Settings
from optin.storage import erasure as repo
from optin.storage import ledger
from optin.storage import lineage as lineage_repo
from optin.storage.database import Database
from optin.storage.erasure import Compaction, ErasureRecord
from optin.storage.members import add_status, get_member, member_id_for

log = logging.getLogger(__name__)

#: What a mention of an erased member in another member's text becomes.
MENTION_MARKER = "[erased member]"
#: The display name of an erased member's row.
ERASED_NAME = "[erased]"
#: Files of an export that hold no record text (kept: hashes and counts only).
EXPORT_KEPT = frozenset({"manifest.json", "datasheet.md", "README.md"})
_SCAN_LIMIT = 256 * 1024 * 1024  # bytes of one access-package file searched for the member

Hook = Callable[[Database, Sequence[str], datetime], Mapping[str, int]]
_HOOKS: list[Hook] = []


def register_hook(fn: Hook) -> Hook:
    """Call ``fn(db, member_ids, now)`` during every erasure, after the database step and
    before compaction (e.g. to clear rows of tables this module does not know; the
    request queue's tables are handled in step 2); the counts it
    returns go into each report's ``hooks``. Idempotent; usable as a decorator."""
    if fn not in _HOOKS:
        _HOOKS.append(fn)
    return fn


def unregister_hook(fn: Hook) -> None:
    if fn in _HOOKS:
        _HOOKS.remove(fn)


@dataclass(frozen=True)
class ErasureReport:
    """What one member's erasure reached, with counts per place.

    For a batch (:func:`erase_members`), ``mentions_rewritten``,
    ``request_texts_rewritten``, ``temp_files_deleted``,
    ``unfinished_snapshot_files``, ``ground_truth_lines_removed``, ``hooks`` and
    ``compaction`` are the batch's (shared by its members), and ``notices_queued`` and
    ``export_files_deleted`` count the notices and files of the exports that held the
    member's records (shared with the other members in those exports); every other count
    is the member's own."""

    erasure_id: str
    member_id: str
    request_id: str | None
    actor: str
    at: datetime
    already_erased: bool = False
    key_destroyed: bool = False
    tlog_salts_erased: int = 0
    ledger_event_id: str | None = None
    ledger_seq: int | None = None
    profile_fields: tuple[str, ...] = ()
    content_deleted: int = 0
    country_rows_deleted: int = 0
    birth_date_rows_deleted: int = 0
    sessions_deleted: int = 0
    mentions_rewritten: int = 0
    request_texts_rewritten: int = 0
    snapshots_stale: tuple[str, ...] = ()
    snapshots_retired: tuple[str, ...] = ()
    snapshots_derived: tuple[str, ...] = ()
    unfinished_snapshot_files: int = 0
    exports_stale: tuple[str, ...] = ()
    notices_queued: int = 0
    export_files_deleted: int = 0
    models_flagged: tuple[str, ...] = ()
    access_files_deleted: int = 0
    temp_files_deleted: int = 0
    ground_truth_lines_removed: int = 0
    hooks: tuple[tuple[str, int], ...] = ()
    compaction: Compaction | None = None
    records: int = 0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            v = getattr(self, name)
            if isinstance(v, datetime):
                v = v.isoformat()
            elif isinstance(v, Compaction):
                v = v.to_dict()
            elif isinstance(v, tuple):
                v = [list(x) if isinstance(x, tuple) else x for x in v]
            out[name] = v
        return out


@dataclass
class _Member:
    """A member to erase, as the database had them before step 2."""

    id: str
    erased: bool
    display_name: str = ""
    handle: str = ""
    email: str | None = None
    content_ids: list[str] = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=dict)
    records: list[ErasureRecord] = field(default_factory=list)


def find_member(db: Database, ref: str) -> str:
    """The id of the member ``ref`` names (an id, or a handle with or without ``@``)."""
    with db.session() as s:
        mid = member_id_for(s, ref.strip())
    if mid is None:
        raise NotFoundError(f"no member {ref!r}; `optin member list` shows members")
    return mid


def erasure_records(db: Database, member_id: str) -> list[ErasureRecord]:
    """Every erasure record of ``member_id`` (what was erased, where, when, by whom)."""
    with db.session() as s:
        return repo.records_of(s, member_id)


def compact_database(db: Database) -> Compaction:
    """Run the compaction of step 8 alone (e.g. when a reader held the SQLite WAL)."""
    return repo.compact(db.engine)


def erase_member(
    db: Database,
    settings: Settings,
    member_id: str,
    *,
    now: datetime,
    request_id: str | int | None = None,
    actor: str,
) -> ErasureReport:
    """Erase ``member_id`` everywhere optin keeps it (see the module docstring).

    ``db``: the database handle (its ``keystore`` holds the member keys and the directory
    key); ``settings``: the data directory (``settings.home``) with the snapshots, exports,
    access packages and temporary files; ``member_id``: the member's id (see
    :func:`find_member` for handles); ``now``: the erasure's time (UTC-aware);
    ``request_id``: the data-subject request it completes (recorded); ``actor``: who
    runs it (recorded). Raises NotFoundError for an unknown member."""
    return erase_members(db, settings, [member_id], now=now, request_id=request_id, actor=actor)[0]


def erase_members(
    db: Database,
    settings: Settings,
    member_ids: Iterable[str],
    *,
    now: datetime,
    request_id: str | int | None = None,
    request_ids: Mapping[str, str] | None = None,
    actor: str,
) -> list[ErasureReport]:
    """Erase several members in one pass (one scan of other members' texts, one
    propagation, one derivation per snapshot, one compaction); one report per member,
    in id order. ``request_ids`` (member id -> request id) records a request per member
    (``request_id`` is for the members it does not name)."""
    ids = sorted(set(member_ids))
    if now.tzinfo is None:
        raise InputError("time must be timezone-aware (UTC)", field="now", value=str(now))
    if not actor or not actor.strip():
        raise InputError("who runs the erasure must be named", field="actor", allowed="a name")
    if not ids:
        return []
    rid = None if request_id is None else str(request_id)
    eid = str(uuid.uuid4())
    members = _load(db, ids)
    run = _Run(db, settings, members, now, rid, actor.strip(), eid)
    run.request_of = {str(k): str(v) for k, v in (request_ids or {}).items()}
    return run.execute()


def _load(db: Database, ids: list[str]) -> dict[str, _Member]:
    out: dict[str, _Member] = {}
    with db.session() as s:
        for mid in ids:
            row = get_member(s, mid)
            if row is None:
                raise NotFoundError(f"no member {mid!r}; `optin member list` shows members")
            m = _Member(mid, row.erased_at is not None)
            if not m.erased:
                m.display_name, m.handle, m.email = row.display_name, row.handle, row.email
                m.content_ids = [cid for cid, _ in repo.content_texts(s, mid)]
            out[mid] = m
    return out


#: e-mail-like tokens (matched against the erased members' e-mails, lower-cased)
_EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
#: below this many trigger strings, a text is first checked for any of them (in C)
_FEW_TRIGGERS = 64
_SUBWORD = re.compile(r"[^\W_]+")


def _triggers(members: Sequence[_Member]) -> set[str]:
    """Lower-case strings at least one of which is in every text that mentions one of
    ``members`` (every word of their names, their handles, their e-mails)."""
    out: set[str] = set()
    for m in members:
        out.update(w.lower() for w in _SUBWORD.findall(m.display_name) if w)
        if m.handle:
            out.add(m.handle.lstrip("@").lower())
        if m.email:
            out.add(m.email.lower())
    return out


def _placeholder_handle(member_id: str) -> str:
    return "erased-" + hashlib.sha256(member_id.encode("utf-8")).hexdigest()[:16]


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _replace_spans(text: str, spans: list[tuple[int, int]]) -> str:
    parts, last = [], 0
    for a, b in _merge(spans):
        parts.append(text[last:a])
        parts.append(MENTION_MARKER)
        last = b
    parts.append(text[last:])
    return "".join(parts)


class _Mentions:
    """Finds the erased members in a text (their names and handles through the platform
    directory, their e-mails) and replaces each mention with :data:`MENTION_MARKER`."""

    def __init__(self, members: Sequence[_Member]) -> None:
        from optin.privacy.detect import Directory, DirectoryEntry

        self.directory = Directory.from_entries(
            DirectoryEntry(m.display_name, m.handle, profile_url(m.handle))
            for m in members
            if m.display_name and m.handle
        )
        self.emails = {m.email.lower() for m in members if m.email}
        triggers = _triggers(members)
        # few triggers: a text without any of them (checked in C) cannot mention them
        self.triggers = triggers if len(triggers) <= _FEW_TRIGGERS else None

    def rewrite(self, body: str) -> str:
        """``body`` with every mention replaced (``body`` itself when there is none)."""
        low = body.lower()
        if self.triggers is not None and not any(t in low for t in self.triggers):
            return body
        spans = [(f.start, f.end) for f in self.directory.find(body)]
        if self.emails and "@" in body:
            spans.extend(
                (x.start(), x.end()) for x in _EMAIL.finditer(low) if x.group() in self.emails
            )
        return _replace_spans(body, spans) if spans else body


class _Run:
    """One erasure pass over a set of members."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        members: dict[str, _Member],
        now: datetime,
        request_id: str | None,
        actor: str,
        erasure_id: str,
    ) -> None:
        self.db, self.settings, self.members, self.now = db, settings, members, now
        self.request_id, self.actor, self.erasure_id = request_id, actor, erasure_id
        self.request_of: dict[str, str] = {}
        self.ids = sorted(members)
        self.shared: dict[str, Any] = {}
        self.rewritten_ids: set[str] = set()
        self.snapshot_ids: list[str] = []
        self.export_ids: list[str] = []

    def record(
        self,
        member: _Member,
        place: str,
        what: str,
        action: str,
        *,
        target: str | None = None,
        count: int = 0,
        detail: dict[str, Any] | None = None,
    ) -> None:
        member.records.append(
            ErasureRecord(
                self.erasure_id,
                member.id,
                self.request_of.get(member.id, self.request_id),
                self.actor,
                self.now,
                place,
                what,
                action,
                target,
                count,
                detail,
            )
        )

    def execute(self) -> list[ErasureReport]:
        self._keys()
        self._database()
        self._propagate()
        self._snapshots()
        self._exports()
        self._models()
        self._files()
        self.shared["hooks"] = self._hooks()
        with self.db.session() as s:
            for m in self.members.values():
                m.counts["records"] = repo.add_records(s, m.records)
        done = repo.compact(self.db.engine)
        self.shared["compaction"] = done
        with self.db.session() as s:
            repo.add_records(
                s,
                [
                    ErasureRecord(
                        self.erasure_id,
                        mid,
                        self.request_of.get(mid, self.request_id),
                        self.actor,
                        self.now,
                        "database",
                        "freed_pages_and_dead_rows",
                        "compacted" if done.complete else "compaction_incomplete",
                        count=len(done.steps),
                        detail={
                            "backend": done.backend,
                            "complete": done.complete,
                            "holders": done.holders,
                            "locked": list(done.locked),
                        },
                    )
                    for mid in self.ids
                ],
            )
        for mid in self.ids:
            self.members[mid].counts["records"] = self.members[mid].counts.get("records", 0) + 1
        if not done.complete:
            log.warning("erasure %s: %s", self.erasure_id, done.problem)
        log.info("erasure %s: %d member(s) erased", self.erasure_id, len(self.ids))
        return [self._report(self.members[mid]) for mid in self.ids]

    # -- 1. keys --

    def _keys(self) -> None:
        for m in self.members.values():
            destroyed = self.db.keystore.destroy(m.id, self.now)
            m.counts["key_destroyed"] = destroyed
            self.record(m, "keystore", "member_key", "destroyed", count=int(destroyed))

    # -- 2. database --

    def _database(self) -> None:
        pending = [m for m in self.members.values() if not m.erased]
        key = directory_key(self.db, now=self.now) if pending else b""
        ps = policy_set(self.db)
        pv = ps.in_force(self.now) or ps.latest()
        with self.db.session() as s:
            repo.secure_delete(s)
            if pending:
                mentions = _Mentions(pending)
                self._rewrite_mentions(s, pending, mentions)
                self._scrub_requests(s, pending, mentions)
            self._retire_packages(s)
            for m in pending:
                self._erase_rows(s, m, key, pv.version if pv else 0)
            for m in self.members.values():
                n = repo.erase_salts(s, m.id)
                m.counts["tlog_salts_erased"] = n
                self.record(m, "tlog_leaves", "salt", "erased", count=n)

    def _rewrite_mentions(self, s: Any, pending: list[_Member], mentions: _Mentions) -> None:
        changes: dict[str, str] = {}
        for cid, body in repo.iter_other_texts(s, self.ids):
            new = mentions.rewrite(body)
            if new != body:
                changes[cid] = new
        repo.set_texts(s, changes)
        self.rewritten_ids = set(changes)
        self.shared["mentions_rewritten"] = len(changes)
        for m in pending:
            self.record(
                m,
                "content_items",
                "mention_in_other_members_text",
                "rewritten",
                count=len(changes),
                detail={"marker": MENTION_MARKER, "batch_members": len(pending)},
            )

    def _scrub_requests(self, s: Any, pending: list[_Member], mentions: _Mentions) -> None:
        """The free texts of the data-subject request tables (how identity was checked,
        reasons, notices to the member): in every request, mentions of the members (as
        in other members' texts) become :data:`MENTION_MARKER`; in the members' own
        requests, whatever the personal-data detector finds is masked as well (an
        operator may have typed a phone number or a document number). The requests and
        their dated history stay: they are the record that the request was answered."""
        from optin.privacy.api import Redactor, RedactorConfig
        from optin.storage import dsr as dsr_repo

        own = {m.id for m in pending}
        redactor: Redactor | None = None
        changes: dict[tuple[str, str, str], str] = {}
        touched: dict[str, int] = {}
        for table, key, col, mid, body in dsr_repo.iter_request_texts(s):
            new = mentions.rewrite(body)
            if mid in own:
                if redactor is None:
                    redactor = Redactor(RedactorConfig(operator="mask", drop_density=None))
                new = redactor.redact(new).text
            if new != body:
                changes[(table, key, col)] = new
                touched[mid] = touched.get(mid, 0) + 1
        dsr_repo.set_request_texts(s, changes)
        self.shared["request_texts_rewritten"] = len(changes)
        for m in pending:
            self.record(
                m,
                "dsr_requests",
                "free_text",
                "rewritten",
                count=touched.get(m.id, 0),
                detail={"all_members": len(changes)},
            )

    def _retire_packages(self, s: Any) -> None:
        """The request rows of the members' access packages say the file is gone (the
        files are shredded in step 7) and their download links are deleted."""
        from optin.storage import dsr as dsr_repo

        for m in self.members.values():
            n = dsr_repo.retire_member_packages(s, [m.id], self.now)
            if n:
                self.record(m, "dsr_requests", "access_package", "retired", count=n)

    def _erase_rows(self, s: Any, m: _Member, key: bytes, policy_version: int) -> None:
        from optin.privacy.detect import DirectoryEntry, erasure_marker

        marker = erasure_marker(
            DirectoryEntry(m.display_name, m.handle, profile_url(m.handle)), key
        )
        held = repo.blank_member(
            s,
            m.id,
            handle=_placeholder_handle(m.id),
            display_name=ERASED_NAME,
            marker=marker,
            now=self.now,
        )
        m.counts["profile_fields"] = tuple(held)
        for name in held:
            self.record(m, "members", name, "blanked", count=1)
        self.record(m, "directory", "entry", "replaced_by_keyed_hash_marker", count=1)
        deleted = repo.delete_member_rows(s, m.id)
        m.counts["content_deleted"] = deleted["content_items"]
        m.counts["country_rows_deleted"] = deleted["member_countries"]
        m.counts["birth_date_rows_deleted"] = deleted["member_birth_dates"]
        m.counts["sessions_deleted"] = deleted["web_sessions"]
        for table, n in deleted.items():
            self.record(m, table, "rows", "deleted", count=n)
        add_status(s, m.id, "erased", since=self.now, recorded_at=self.now, source="erasure")
        ev = ledger.append_erasure(s, m.id, policy_version=policy_version, now=self.now)
        m.counts["ledger_event_id"], m.counts["ledger_seq"] = ev.event_id, int(ev.seq)
        self.record(m, "consent_events", "erasure_event", "appended", target=ev.event_id, count=1)

    # -- 3. propagation --

    def _propagate(self) -> None:
        report = propagate(self.db, member_ids=self.ids, reason="erasure", now=self.now)
        for impact in report.affected:
            for mid in impact.members:
                if mid in self.members:
                    self.members[mid].counts.setdefault("snapshots_stale", []).append(
                        impact.snapshot_id
                    )
        for err in report.hook_errors:
            log.error("erasure %s: propagation hook failed: %s", self.erasure_id, err)

    # -- 4. snapshots --

    def _snapshots(self) -> None:
        with self.db.session() as s:
            counts = lineage_repo.member_snapshot_counts(s, self.ids)
            snaps = lineage_repo.snapshots_by_ids(s, sorted({c.snapshot_id for c in counts}))
            unfinished = [
                (r.id, r.path)
                for r in lineage_repo.snapshots_by_ids(s, _all_snapshot_ids(s)).values()
                if r.status != "complete"
            ]
        holders: dict[str, set[str]] = {}
        for c in counts:
            holders.setdefault(c.snapshot_id, set()).add(c.author_id)
        self.snapshot_ids = sorted(holders)
        for sid in sorted(holders):
            row = snaps[sid]
            if row.status != "complete" or row.retired_at is not None:
                continue
            child = derive_snapshot(self.db, self.settings, sid, now=self.now)
            shredded = shred_tree(snapshot_dir(self.settings.home, row.path) / "data")
            retire_snapshot(self.db, self.settings, sid, by=child.snapshot_id, now=self.now)
            for mid in sorted(holders[sid]):
                m = self.members[mid]
                m.counts.setdefault("snapshots_retired", []).append(sid)
                m.counts.setdefault("snapshots_derived", []).append(child.snapshot_id)
                self.record(
                    m,
                    "snapshot",
                    "shards",
                    "derived_and_retired",
                    target=sid,
                    count=shredded,
                    detail={"child": child.snapshot_id, "removed": child.removed},
                )
        files = 0
        for _sid, path in unfinished:
            base = snapshot_dir(self.settings.home, path)
            files += shred_tree(base / "data") + shred_tree(base / "_work")
        for sid in sorted(snaps):  # a finished build never keeps work files; be sure
            files += shred_tree(snapshot_dir(self.settings.home, snaps[sid].path) / "_work")
        for m in self.members.values():
            m.counts["unfinished_snapshot_files"] = files
            if files:
                self.record(m, "files", "unfinished_snapshot_files", "shredded", count=files)

    # -- 5. exports --

    def _exports(self) -> None:
        with self.db.session() as s:
            holders = repo.exports_of_members(s, self.ids)
            paths = repo.export_paths(s, sorted(holders))
            notices = repo.notices_at(s, sorted(holders), self.now)
        self.export_ids = sorted(holders)
        for eid in sorted(holders):
            base = self.settings.home / paths[eid]
            n = 0
            if base.is_dir():
                for p in sorted(base.rglob("*")):
                    if p.is_file() and p.relative_to(base).as_posix() not in EXPORT_KEPT:
                        shred(p)
                        n += 1
            for mid in sorted(holders[eid]):
                m = self.members[mid]
                m.counts.setdefault("exports_stale", []).append(eid)
                m.counts["notices_queued"] = m.counts.get("notices_queued", 0) + notices.get(eid, 0)
                m.counts["export_files_deleted"] = m.counts.get("export_files_deleted", 0) + n
                self.record(m, "export", "records", "stale_and_noticed", target=eid,
                            count=notices.get(eid, 0))  # fmt: skip
                self.record(m, "export_files", "data_files", "shredded", target=eid, count=n)
        root = exports_dir(self.settings)
        if root.is_dir():
            for partial in sorted(root.glob(".*.partial")):
                shred_tree(partial)

    # -- 6. models --

    def _models(self) -> None:
        srcs = sorted(set(self.snapshot_ids) | set(self.export_ids))
        if not srcs:
            return
        with self.db.session() as s:
            edges = lineage_repo.edges_from(s, srcs, kind="model")
        with self.db.session() as s:
            counts = lineage_repo.member_snapshot_counts(s, self.ids)
            exp = repo.exports_of_members(s, self.ids)
        by_src: dict[str, set[str]] = {}
        for c in counts:
            by_src.setdefault(c.snapshot_id, set()).add(c.author_id)
        for eid, ms in exp.items():
            by_src.setdefault(eid, set()).update(ms)
        for e in edges:
            for mid in sorted(by_src.get(e.src, ())):
                m = self.members[mid]
                m.counts.setdefault("models_flagged", []).append(e.dst)
                self.record(m, "model", "training_records", "flagged_for_retraining",
                            target=e.dst, detail={"trained_from": e.src})  # fmt: skip

    # -- 7. files --

    def _files(self) -> None:
        home = self.settings.home
        for m in self.members.values():
            n = _access_packages(home / "dsr", m)
            m.counts["access_files_deleted"] = n
            self.record(m, "files", "access_packages", "shredded", target="dsr/", count=n)
        temps = stale_temps(home) if home.is_dir() else []
        for p in temps:
            shred(p)
        self.shared["temp_files_deleted"] = len(temps)
        removed = _ground_truth(home / "demo" / "ground_truth.jsonl", self._dropped_content())
        for m in self.members.values():
            m.counts["ground_truth_lines_removed"] = removed
            if temps:
                self.record(m, "files", "temporary_files", "shredded", count=len(temps))
            if removed:
                self.record(m, "files", "demo_ground_truth_lines", "removed", count=removed)

    def _dropped_content(self) -> set[str]:
        out = set(self.rewritten_ids)
        for m in self.members.values():
            out.update(m.content_ids)
        return out

    def _hooks(self) -> tuple[tuple[str, int], ...]:
        got: list[tuple[str, int]] = []
        for fn in list(_HOOKS):
            for name, n in sorted(fn(self.db, self.ids, self.now).items()):
                got.append((name, int(n)))
        return tuple(got)

    # -- report --

    def _report(self, m: _Member) -> ErasureReport:
        c = m.counts
        r = ErasureReport(
            erasure_id=self.erasure_id,
            member_id=m.id,
            request_id=self.request_of.get(m.id, self.request_id),
            actor=self.actor,
            at=self.now,
            already_erased=m.erased,
            key_destroyed=bool(c.get("key_destroyed")),
            tlog_salts_erased=int(c.get("tlog_salts_erased", 0)),
            ledger_event_id=c.get("ledger_event_id"),
            ledger_seq=c.get("ledger_seq"),
            profile_fields=tuple(c.get("profile_fields", ())),
            content_deleted=int(c.get("content_deleted", 0)),
            country_rows_deleted=int(c.get("country_rows_deleted", 0)),
            birth_date_rows_deleted=int(c.get("birth_date_rows_deleted", 0)),
            sessions_deleted=int(c.get("sessions_deleted", 0)),
            snapshots_stale=tuple(sorted(set(c.get("snapshots_stale", ())))),
            snapshots_retired=tuple(sorted(set(c.get("snapshots_retired", ())))),
            snapshots_derived=tuple(sorted(set(c.get("snapshots_derived", ())))),
            unfinished_snapshot_files=int(c.get("unfinished_snapshot_files", 0)),
            exports_stale=tuple(sorted(set(c.get("exports_stale", ())))),
            notices_queued=int(c.get("notices_queued", 0)),
            export_files_deleted=int(c.get("export_files_deleted", 0)),
            models_flagged=tuple(sorted(set(c.get("models_flagged", ())))),
            access_files_deleted=int(c.get("access_files_deleted", 0)),
            ground_truth_lines_removed=int(c.get("ground_truth_lines_removed", 0)),
            records=int(c.get("records", 0)),
        )
        return replace(
            r,
            mentions_rewritten=int(self.shared.get("mentions_rewritten", 0)),
            request_texts_rewritten=int(self.shared.get("request_texts_rewritten", 0)),
            temp_files_deleted=int(self.shared.get("temp_files_deleted", 0)),
            hooks=self.shared.get("hooks", ()),
            compaction=self.shared.get("compaction"),
        )


def _all_snapshot_ids(s: Any) -> list[str]:
    from optin.storage.snapshots import list_snapshots

    return [r.id for r in list_snapshots(s)]


def _needles(m: _Member) -> list[bytes]:
    """What marks a file as the member's: their id as a JSON string or path word, and,
    when known, their e-mail and handle."""
    out = [json.dumps(m.id).encode("utf-8")]
    for v in (m.email, m.handle):
        if v:
            out.append(v.encode("utf-8"))
    return out


def _holds(path: Path, needles: list[bytes]) -> bool:
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                for info in z.infolist():
                    if info.file_size <= _SCAN_LIMIT:
                        data = z.read(info)
                        if any(n in data for n in needles):
                            return True
            return False
        if path.stat().st_size > _SCAN_LIMIT:
            return False
        data = path.read_bytes()
    except (OSError, zipfile.BadZipFile):
        return False
    return any(n in data for n in needles)


def _access_packages(root: Path, m: _Member) -> int:
    """Shred every file under ``root`` named after the member (their id, as a whole word,
    in its name or a folder's) or holding their id, e-mail or handle; returns how many."""
    if not root.is_dir():
        return 0
    needles = _needles(m)
    named = re.compile(rf"(?<![A-Za-z0-9]){re.escape(m.id)}(?![A-Za-z0-9])")
    n = 0
    for dirpath, _dirs, files in os.walk(root):
        rel = Path(dirpath).relative_to(root).as_posix()
        for name in files:
            p = Path(dirpath) / name
            if named.search(rel) or named.search(name) or _holds(p, needles):
                shred(p)
                n += 1
    for dirpath, dirs, _files in os.walk(root, topdown=False):
        for d in dirs:
            full = Path(dirpath) / d
            if not any(full.iterdir()):
                full.rmdir()
    return n


def _ground_truth(path: Path, content_ids: set[str]) -> int:
    """Drop the lines of ``content_ids`` from the demo's ground truth (the old file is
    shredded); returns how many lines were dropped."""
    if not content_ids or not path.is_file():
        return 0
    old = path.with_name(f".{path.name}.erasing")
    os.replace(path, old)
    dropped = 0
    with old.open(encoding="utf-8") as src, atomic_text(path, mode=0o600) as out:
        for line in src:
            try:
                cid = json.loads(line).get("id")
            except ValueError:
                cid = None
            if cid in content_ids:
                dropped += 1
                continue
            out.write(line)
    shred(old)
    return dropped


__all__ = [
    "ERASED_NAME",
    "EXPORT_KEPT",
    "MENTION_MARKER",
    "ErasureReport",
    "Hook",
    "compact_database",
    "erase_member",
    "erase_members",
    "erasure_records",
    "find_member",
    "register_hook",
    "unregister_hook",
]
