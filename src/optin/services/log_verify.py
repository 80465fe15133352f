"""Full verification of the transparency log, independent of the code that builds it.

::

    report = verify_tree(db, log_verifier)     # LogReport: ok, size, root, problem

Nothing of the builder is used here (``storage.tlog.integrate``, ``tlog.merkle``,
``tlog.leaf``, ``storage.ledger.chain``): this module spells the ledger's canonical
payload itself, opens the sealed salts itself (AES-GCM under the member's key, read from
the key store) and folds the RFC 6962 root itself. What it checks, in one streaming pass
over ``leaves ⋈ level-0 nodes ⋈ ledger rows`` (:func:`storage.tlog.iter_verification_rows`):

* leaf ``n`` exists, names the ledger event of ``seq n + 1``, and its stored level-0
  hash is ``SHA-256(0x00 || data)`` (what proofs are served from);
* the bytes the leaf is opened against are the bytes the chain hashed:
  ``SHA-256(prev_hash || payload) == hash`` of the row, so a payload spelled otherwise
  than the ledger's would fail loudly, never pass;
* where the member's key still exists, the sealed salt opens (a salt that does not open
  under an existing key was tampered with) and ``SHA-256(salt || payload)`` is the leaf
  data; erased members' leaves (key destroyed) are only hashed;
* the root of the first ``k`` leaves equals the root of every stored checkpoint of size
  ``k`` (all of them, paged by size beside the leaves), the whole tree's root and size equal the
  stored tree state, and the latest checkpoint is signed by the log's key.

The first problem is reported (the pass still folds the remaining leaves, so size and
root are those of the whole stored tree).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from optin.storage import tlog as store
from optin.storage.database import Database
from optin.storage.keys import KeyRing
from optin.tlog.checkpoint import Checkpoint
from optin.tlog.note import NoteError, Verifier

__all__ = ["LogReport", "verify_tree"]

_SALT_AAD = b"tlog-salt:"
_NONCE = 12
_sha256 = hashlib.sha256


@dataclass(frozen=True, slots=True)
class LogReport:
    ok: bool
    size: int
    root: str
    checked_commitments: int
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "size": self.size,
            "root": self.root,
            "checked_commitments": self.checked_commitments,
            "problem": self.problem,
        }


def _iso(value: Any) -> str:
    """A stored time as the ledger's canonical text (UTC, microseconds, ``+00:00``)."""
    if isinstance(value, str):  # PostgreSQL: formatted; SQLite: 'YYYY-MM-DD HH:MM:SS.ffffff'
        if len(value) == 32 and value[10] == "T":
            return value
        if len(value) == 26 and value[10] == " ":
            return value[:10] + "T" + value[11:] + "+00:00"
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value  # garbage: the chain-hash check reports the row
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    elif value.utcoffset():
        value = value.astimezone(UTC)
    else:
        value = value.replace(tzinfo=UTC)
    return str(value.isoformat(timespec="microseconds"))


def _payload(r: tuple[Any, ...]) -> str:
    """The canonical payload of a ledger row (compact JSON, keys sorted), spelled here."""
    personal = r[14]
    p_sha = "null" if personal is None else '"' + _sha256(bytes(personal)).hexdigest() + '"'
    return (
        '{"action":' + encode_basestring(r[9])
        + ',"at":' + encode_basestring(_iso(r[10]))
        + ',"event_id":' + encode_basestring(r[6])
        + ',"member_id":' + encode_basestring(r[7])
        + ',"personal_sha256":' + p_sha
        + ',"policy_version":' + str(int(r[12]))
        + ',"purpose":' + encode_basestring(r[8])
        + ',"recorded_at":' + encode_basestring(_iso(r[11]))
        + ',"seq":' + str(int(r[5]))
        + ',"source":' + encode_basestring(r[13])
        + "}"
    )  # fmt: skip


class _Salts:
    """Opens sealed salts with the members' keys, a chunk of members at a time."""

    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring
        self.aead: dict[str, AESGCM | None] = {}

    def load(self, members: Iterable[str]) -> None:
        self.aead.clear()  # bounded: one chunk of members
        wanted = {m for m in members if m is not None}
        self.ring.load(wanted)
        for m in wanted:
            key = self.ring.key_for_read(m)
            self.aead[m] = None if key is None else AESGCM(key)

    def open(self, member_id: str, event_id: str, sealed: bytes) -> bytes | None:
        """The salt; None when the member's key is destroyed. Raises ValueError when it
        does not open under an existing key."""
        aead = self.aead.get(member_id)
        if aead is None:
            return None
        blob = bytes(sealed)
        try:
            opened = aead.decrypt(blob[:_NONCE], blob[_NONCE:], _SALT_AAD + event_id.encode())
        except InvalidTag:
            raise ValueError("sealed salt does not open") from None
        if len(opened) == 72 and opened.startswith(b'{"s":"'):  # as sealed, compact
            return bytes.fromhex(opened[6:70].decode("ascii"))
        return bytes.fromhex(json.loads(opened)["s"])


def _fold_root(stack: list[tuple[int, bytes]]) -> bytes:
    if not stack:
        return _sha256(b"").digest()
    acc = stack[-1][1]
    for _, h in reversed(stack[:-1]):
        acc = _sha256(b"\x01" + h + acc).digest()
    return acc


def _leaf_problem(n: int, r: tuple[Any, ...], leaf: bytes) -> str | None:
    """What is wrong with leaf ``n`` before its commitment is opened."""
    if int(r[0]) != n:
        return f"leaf {n} is missing"
    if r[4] is None or bytes(r[4]) != leaf:
        return f"leaf {n}: the stored leaf hash is not the hash of its data"
    if r[5] is None or int(r[5]) != n + 1 or r[6] != r[1]:
        return f"leaf {n}: its ledger event is gone or moved"
    return None


class _Roots:
    """The stored checkpoints' roots by size, paged in order beside the leaves (bounded
    memory however many checkpoints there are); ``signed`` overrides the stored root
    of the latest checkpoint with the root its signed note names."""

    def __init__(self, session: Any, signed: Checkpoint | None, chunk: int = 10000) -> None:
        self.session = session
        self.signed = signed
        self.chunk = chunk
        self.page: list[tuple[int, bytes]] = []
        self.pos = 0
        self.after = 0
        self.done = False

    def _head(self) -> tuple[int, bytes] | None:
        if self.pos >= len(self.page) and not self.done:
            self.page = store.checkpoint_roots(self.session, after=self.after, chunk=self.chunk)
            self.pos = 0
            self.done = len(self.page) < self.chunk
            if self.page:
                self.after = self.page[-1][0]
        return self.page[self.pos] if self.pos < len(self.page) else None

    def at(self, n: int) -> bytes | None:
        """The root a checkpoint of size ``n`` claims (None: no checkpoint of that size).
        Sizes must be asked in increasing order."""
        head = self._head()
        while head is not None and head[0] < n:
            self.pos += 1
            head = self._head()
        if head is None or head[0] != n:
            return None
        if self.signed is not None and self.signed.size == n:
            return self.signed.root
        return head[1]


class _Pass:
    """The streaming state: leaves seen, commitments opened, the right frontier of the
    tree folded so far, the first problem."""

    def __init__(self, salts: _Salts, roots: _Roots) -> None:
        self.salts = salts
        self.roots = roots
        self.stack: list[tuple[int, bytes]] = []  # (level, hash), levels decreasing
        self.n = self.opened = 0
        self.problem: str | None = None

    def chunk(self, batch: list[tuple[Any, ...]]) -> None:
        if self.problem is None:
            self.salts.load(r[7] for r in batch)
        for r in batch:
            leaf = _sha256(b"\x00" + bytes(r[2])).digest()
            if self.problem is None:
                self.problem = _leaf_problem(self.n, r, leaf) or self._open(self.n, r)
            self._fold(leaf)

    def _open(self, n: int, r: tuple[Any, ...]) -> str | None:
        payload = _payload(r).encode("utf-8")
        if _sha256(r[15].encode("ascii") + payload).hexdigest() != r[16]:
            return (
                f"leaf {n} (ledger seq {n + 1}): the ledger row does not match its chain "
                "hash (see `optin ledger verify`)"
            )
        if r[3] is None:
            return None
        try:
            salt = self.salts.open(r[7], r[6], r[3])
        except (ValueError, KeyError, TypeError):
            return f"leaf {n}: its sealed salt does not open with the member's key"
        if salt is None:
            return None  # erased: the key is destroyed
        self.opened += 1
        if _sha256(salt + payload).digest() != bytes(r[2]):
            return f"leaf {n} (ledger seq {n + 1}) no longer matches its event"
        return None

    def _fold(self, leaf: bytes) -> None:
        level, h = 0, leaf
        stack = self.stack
        while stack and stack[-1][0] == level:
            h = _sha256(b"\x01" + stack.pop()[1] + h).digest()
            level += 1
        stack.append((level, h))
        self.n += 1
        want = self.roots.at(self.n)
        if want is not None and self.problem is None and _fold_root(stack) != want:
            self.problem = (
                f"the tree is not consistent with the checkpoint of size {self.n}: "
                "history was rewritten"
            )


def verify_tree(db: Database, log_key: Verifier | None, *, chunk: int = 20000) -> LogReport:
    """Verify the whole stored log (see the module docstring). ``log_key``: the log's
    verifier key, to check the latest checkpoint's signature (None: the log has no key;
    a checkpoint then cannot be trusted and is a problem)."""
    with db.session() as s:
        state = store.tree_state(s)
        latest = store.latest_checkpoint(s)
        signed, note_problem = _open_latest(latest, log_key)
        if signed is not None and latest is not None and latest.root != signed.root:
            note_problem = f"the stored root of checkpoint {signed.size} is not its signed root"
        roots = _Roots(s, signed, chunk)
        walk = _Pass(_Salts(KeyRing(s)), roots)
        batch: list[tuple[Any, ...]] = []
        for r in store.iter_verification_rows(s, chunk=chunk):
            batch.append(r)
            if len(batch) >= chunk:
                walk.chunk(batch)
                batch = []
        if batch:
            walk.chunk(batch)
        larger = latest.size if latest is not None and latest.size > walk.n else None
    n, root = walk.n, _fold_root(walk.stack)

    def report(problem: str | None) -> LogReport:
        return LogReport(problem is None, n, base64.b64encode(root).decode(), walk.opened, problem)

    if (n, root) != (state.size, state.root):
        return report("the stored tree state does not match the leaves")
    if walk.problem is not None:
        return report(walk.problem)
    if note_problem is not None:
        return report(note_problem)
    if larger is not None:
        return report(f"a checkpoint (size {larger}) is larger than the tree")
    return report(None)


def _open_latest(
    latest: store.CheckpointRecord | None, log_key: Verifier | None
) -> tuple[Checkpoint | None, str | None]:
    """The latest checkpoint as signed, or why it cannot be trusted."""
    if latest is None:
        return None, None
    if log_key is None:
        return None, "the latest checkpoint cannot be checked: the log has no key"
    try:
        cp, _ = Checkpoint.open(latest.note, [log_key])
    except NoteError as e:
        return None, f"the latest checkpoint does not verify: {e}"
    return cp, None
