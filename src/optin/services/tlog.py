"""The consent transparency log: integration, checkpoints, proofs, witnesses, checks.

::

    vkey, path, created = keygen(settings)              # the log's Ed25519 note key
    integrate(db, now=now)                              # tree <- ledger events not yet in it
    cp = publish_checkpoint(db, settings, now=now)      # sign (at most every N s), cosign
    proof = inclusion_proof_file(db, settings, event_id, now=now)   # c2sp.org/tlog-proof
    member_proof_file(db, settings, member_id, event_id, now=now)   # ... + receipt + salt
    consistency(db, old, new)                           # RFC 6962 consistency proof
    verify_log(db, settings)                            # tree vs chain vs checkpoint

**Integration** is a step, not a hook in the ledger append: :func:`integrate` appends
every ledger event the tree does not hold yet, in ``seq`` order, under its own lock. It
runs before every checkpoint, proof and status (so nothing can be proved or
checkpointed that the tree does not hold), at ``optin log rebuild`` (backfill of an
existing ledger) and on the web app's checkpoint requests. The ledger's append path
stays as fast as it is, and events appended by any path (web, API, CLI, imports, demo)
are picked up alike; the price is that the tree trails the ledger until the next
checkpoint (at most the checkpoint interval while events arrive).
"""

from __future__ import annotations

import logging
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from optin.errors import ConfigError, ConflictError, InputError, IntegrityError, NotFoundError
from optin.files import atomic_write_bytes, create_secret_file
from optin.services.log_verify import LogReport, verify_tree
from optin.settings import Settings
from optin.storage import tlog as store
from optin.storage.database import Database
from optin.storage.keys import KeyRing
from optin.tlog import merkle
from optin.tlog.checkpoint import Checkpoint, ProofFile, count_cosignatures
from optin.tlog.leaf import bundle_extra, commitment
from optin.tlog.note import (
    ALG_COSIGNATURE_V1,
    NoteError,
    Signer,
    Verifier,
    generate_signer_key,
    sign_note,
)
from optin.tlog.witness import request_body

log = logging.getLogger(__name__)

__all__ = [
    "MANIFEST_NOTE",
    "LogReport",
    "LogStatus",
    "PinnedLeaf",
    "Witness",
    "check_manifest_pin",
    "consistency",
    "cosign_checkpoint",
    "http_post",
    "inclusion",
    "inclusion_proof_file",
    "integrate",
    "key_path",
    "keygen",
    "latest_note",
    "log_signer",
    "log_status",
    "manifest_key_name",
    "manifest_key_path",
    "manifest_pin",
    "manifest_signature_field",
    "manifest_signer",
    "manifest_vkey",
    "member_proof_file",
    "parse_vkey",
    "pinned_leaves",
    "publish_checkpoint",
    "quorum",
    "read_signer",
    "rebuild",
    "sign_manifest",
    "tree_problem",
    "trusted_log_key",
    "trusted_manifest_key",
    "verify_log",
    "verify_proof_text",
    "witnesses",
    "write_manifest_note",
]

KEY_FILE = "log.key"
MANIFEST_KEY_FILE = "manifest.key"
#: the signed note beside a manifest.json: its text is the manifest's exact bytes
MANIFEST_NOTE = "manifest.note"


# -- keys ------------------------------------------------------------------------------


def key_path(settings: Settings) -> Path:
    return settings.keys_dir / KEY_FILE


def keygen(
    settings: Settings, *, path: Path | None = None, name: str | None = None, alg: int = 1
) -> tuple[str, Path, bool]:
    """Create an Ed25519 note key (mode 0600) unless one exists; returns the verifier
    key (``name+hash+base64``), the file and whether this call created it."""
    if path is None:  # the log's own key: the platform's manifest key comes with it
        _ensure_manifest_key(settings)
    path = path or key_path(settings)
    signer = generate_signer_key(name or settings.log_origin, os.urandom(32), alg)
    created = create_secret_file(path, (signer.skey + "\n").encode("ascii"))
    return read_signer(path).verifier.vkey, path, created


# -- the platform's manifest key -------------------------------------------------------
#
# Snapshot and export manifests are signed notes (c2sp.org/signed-note) under a key of
# their own, not the log's: a key signs one kind of note, so no manifest text can ever
# be taken for a checkpoint of the log (or the reverse), and the log key can be rotated
# or held in another place without touching the manifests. The key is an Ed25519 note
# key named ``<host of the log origin>/manifests`` in ``keys/manifest.key`` (0600),
# created with the log key by ``optin log keygen`` (and at the first build of an
# installation whose log key predates it).


def manifest_key_path(settings: Settings) -> Path:
    return settings.keys_dir / MANIFEST_KEY_FILE


def manifest_key_name(settings: Settings) -> str:
    return settings.log_origin.split("/", 1)[0] + "/manifests"


def _ensure_manifest_key(settings: Settings) -> bool:
    signer = generate_signer_key(manifest_key_name(settings), os.urandom(32))
    return create_secret_file(manifest_key_path(settings), (signer.skey + "\n").encode("ascii"))


def manifest_signer(settings: Settings) -> Signer | None:
    """The manifest key; None when the log is not set up (no log key, no manifest key).
    An installation with a log key but no manifest key gets one now."""
    path = manifest_key_path(settings)
    if not path.exists():
        if not key_path(settings).exists():
            return None
        _ensure_manifest_key(settings)
    return read_signer(path)


def manifest_vkey(settings: Settings) -> str | None:
    signer = manifest_signer(settings)
    return None if signer is None else signer.verifier.vkey


def sign_manifest(settings: Settings, manifest_text: str) -> str | None:
    """The signed note whose text is ``manifest_text`` (None: no manifest key)."""
    signer = manifest_signer(settings)
    if signer is None:
        return None
    try:
        return sign_note(manifest_text, signer)
    except NoteError as e:  # a manifest is JSON: no control characters, ends in "\n"
        raise IntegrityError(f"the manifest cannot be signed as a note: {e}") from None


def manifest_signature_field(settings: Settings) -> dict[str, Any]:
    """What a manifest says of its signature (empty when it will not be signed): the
    note file beside it and the manifest key's verifier key (a claim: a verifier
    trusts a key it got elsewhere, ``--manifest-key``)."""
    vkey = manifest_vkey(settings)
    if vkey is None:
        return {}
    return {
        "signed_note": {
            "file": MANIFEST_NOTE,
            "format": "c2sp.org/signed-note; the note's text is manifest.json, byte for byte",
            "key": vkey,
        }
    }


def write_manifest_note(settings: Settings, directory: Path, manifest_text: str) -> bool:
    """Write ``directory/manifest.note`` (atomically, beside ``manifest.json``) when the
    platform has a manifest key; returns whether it did."""
    note = sign_manifest(settings, manifest_text)
    target = directory / MANIFEST_NOTE
    if note is None:
        target.unlink(missing_ok=True)
        return False
    atomic_write_bytes(target, note.encode("utf-8"))
    return True


def _trusted(given: str | None, path: Path, what: str) -> Verifier | None:
    if given:
        return parse_vkey(given, what)
    if path.exists():
        return read_signer(path).verifier
    return None


def trusted_manifest_key(settings: Settings, given: str | None = None) -> Verifier | None:
    """The manifest verifier key to trust: ``given`` (``--manifest-key``), else the
    public half of this installation's manifest key file, else None."""
    return _trusted(given, manifest_key_path(settings), "--manifest-key")


def trusted_log_key(settings: Settings, given: str | None = None) -> Verifier | None:
    """The log verifier key to trust: ``given`` (``--log-key``), else this
    installation's log key, else None."""
    return _trusted(given, key_path(settings), "--log-key")


def read_signer(path: Path) -> Signer:
    try:
        text = path.read_text("ascii").strip()
    except FileNotFoundError:
        raise ConfigError(f"no key at {path}; run `optin log keygen`") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read the key {path}: {e}") from None
    try:
        return Signer.parse(text)
    except NoteError as e:
        raise ConfigError(f"the key file {path} is not a note signer key: {e}") from None


def log_signer(settings: Settings) -> Signer:
    signer = read_signer(key_path(settings))
    if signer.name != settings.log_origin:
        raise ConfigError(
            f"the log key is named {signer.name!r} but OPTIN_LOG_ORIGIN is "
            f"{settings.log_origin!r}; they must match"
        )
    return signer


def parse_vkey(text: str, what: str = "--key") -> Verifier:
    value = text.strip()
    p = Path(value)
    if "+" not in value or (len(value) < 4096 and p.is_file()):
        try:
            value = p.read_text("ascii").strip()
        except OSError:
            raise InputError(
                "not a verifier key or a file holding one",
                field=what,
                value=text[:80],
                allowed="name+hash+base64 (printed by `optin log keygen`)",
            ) from None
    try:
        return Verifier.parse(value)
    except NoteError as e:
        raise InputError(
            f"not a verifier key: {e}",
            field=what,
            value=text[:80],
            allowed="name+hash+base64 (printed by `optin log keygen`)",
        ) from None


# -- witnesses -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Witness:
    url: str
    key: Verifier


def witnesses(settings: Settings) -> list[Witness]:
    out = []
    for entry in settings.log_witnesses:
        url, _, vkey = entry.strip().partition(" ")
        key = parse_vkey(vkey.strip(), "OPTIN_LOG_WITNESSES")
        if key.alg != ALG_COSIGNATURE_V1:
            raise ConfigError(f"witness {url}: its key must be a 0x04 cosignature key")
        out.append(Witness(url.rstrip("/"), key))
    return out


def quorum(settings: Settings) -> int:
    n = len(settings.log_witnesses)
    q = settings.log_witness_quorum
    return n if q is None else q


Poster = Callable[[str, bytes], tuple[int, str]]


def http_post(url: str, body: bytes) -> tuple[int, str]:
    req = urllib.request.Request(url, data=body, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return int(r.status), r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return int(e.code), e.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as e:
        return 0, str(e)


def _ask(db: Database, w: Witness, note: str, size: int, old: int, post: Poster) -> str | None:
    """One witness's cosignature line for the checkpoint ``note`` (or None)."""
    for _ in range(2):
        proof = consistency(db, old, size) if old else []
        status, body = post(w.url + "/add-checkpoint", request_body(old, proof, note).encode())
        if status == 409 and body.strip().isdigit() and int(body.strip()) <= size:
            old = int(body.strip())
            continue
        if status != 200:
            log.warning("witness %s refused checkpoint %d: %s %s", w.url, size, status, body[:200])
            return None
        return body
    return None


def cosign_checkpoint(
    db: Database, settings: Settings, record: store.CheckpointRecord, prev: int, post: Poster
) -> store.CheckpointRecord:
    """Ask the configured witnesses that have not cosigned ``record`` yet (``prev``: the
    size they are believed to hold; a witness that holds another answers 409 with it
    and is asked again from there), keep each answer that is a valid cosignature by that
    witness, and store the note with them added to those it already carried."""
    ws = [w for w in witnesses(settings) if w.key.name not in record.cosigners]
    if not ws:
        return record
    lines = []
    for w in ws:
        line = _ask(db, w, record.note, record.size, prev, post)
        if line is not None and _valid_cosignature(record.note, line, w):
            lines.append(line)
    if not lines:
        return record
    cosigned = record.cosigned + "".join(lines)
    names = sorted({*record.cosigners, *count_cosignatures(cosigned, [w.key for w in ws])})
    with db.session() as s:
        store.set_cosigned(s, record.size, cosigned, names)
    return store.CheckpointRecord(
        record.size, record.root, record.created_at, record.note, cosigned, tuple(names)
    )


def _valid_cosignature(note: str, line: str, w: Witness) -> bool:
    if not line.endswith("\n") or line.count("\n") != 1:
        return False
    try:
        return count_cosignatures(note + line, [w.key]) == [w.key.name]
    except NoteError:
        return False


# -- integration and checkpoints ------------------------------------------------------


def integrate(db: Database, *, now: datetime) -> store.TreeState:
    """Append every ledger event not yet in the tree (see the module docstring)."""
    with db.session() as s:
        return store.integrate(s, now=now)


def rebuild(db: Database, *, now: datetime, force: bool = False) -> store.TreeState:
    """Build the tree from seq 1 over the existing chain, in order (the migration of a
    ledger that predates the log; :func:`integrate` does the same on an empty tree).
    New salts make a new tree: once checkpoints were published, a rebuilt tree is not
    consistent with them (it is a fork), so that needs ``force``; checkpoints are kept,
    so the fork shows in ``optin log audit`` and at every witness."""
    with db.session() as s:
        if store.latest_checkpoint(s) is not None and not force:
            raise ConflictError(
                "checkpoints of this tree were published; a rebuilt tree (new salts) "
                "would not be consistent with them. Use --force only to recover a "
                "damaged tree, knowing that witnesses will refuse it"
            )
    with db.session() as s:
        store.reset(s)
        return store.integrate(s, now=now)


def publish_checkpoint(
    db: Database,
    settings: Settings,
    *,
    now: datetime,
    force: bool = False,
    post: Poster = http_post,
) -> store.CheckpointRecord | None:
    """Integrate, then sign a checkpoint of the tree when it grew and the last one is at
    least ``log_checkpoint_interval`` seconds old (``force``: regardless of the time),
    ask the witnesses to cosign it. Returns the latest checkpoint (None: none yet)."""
    signer = log_signer(settings)
    with db.session() as s:  # read-only fast path: nothing new, or not due yet
        latest = store.latest_checkpoint(s)
        age = (now - latest.created_at).total_seconds() if latest else None
        if latest is not None and not force:
            if age is not None and age < settings.log_checkpoint_interval:
                return latest
            if store.ledger_head_seq(s) == latest.size:
                return latest
    with db.session() as s:  # up to the head read now: never chase live appends
        state = store.integrate(s, now=now, upto=store.ledger_head_seq(s))
        latest = store.latest_checkpoint(s)
        if latest is not None and latest.size >= state.size:
            return latest
        if latest is not None:
            _refuse_fork(s, latest)
        note = sign_note(Checkpoint(signer.name, state.size, state.root).text(), signer)
        record = store.add_checkpoint(s, state.size, state.root, note, now=now)
    prev = latest.size if latest else 0
    return cosign_checkpoint(db, settings, record, prev, post)


def _refuse_fork(session: Any, latest: store.CheckpointRecord) -> None:
    """A log never signs a checkpoint inconsistent with one it signed: the tree at the
    latest checkpoint's size must still have that checkpoint's root."""
    got = _planned(session, lambda get: [merkle.range_hash(get, 0, latest.size)])[0]
    if got != latest.root:
        raise IntegrityError(
            f"the tree is not an extension of checkpoint {latest.size}: history was "
            "rewritten; no new checkpoint is signed"
        )


def latest_note(db: Database, settings: Settings, *, now: datetime) -> str:
    """The latest checkpoint (cosigned note), publishing a new one when due."""
    cp = publish_checkpoint(db, settings, now=now)
    if cp is None:
        raise NotFoundError("the transparency log has no checkpoint yet")
    return cp.cosigned


# -- proofs ----------------------------------------------------------------------------


def _planned(session: Any, build: Callable[[merkle.NodeGetter], list[bytes]]) -> list[bytes]:
    """Run a proof builder twice: once to learn which stored subtrees it reads (the
    shape does not depend on the hashes), then on those hashes fetched in one query."""
    plan: list[tuple[int, int]] = []

    def record(level: int, idx: int) -> bytes:
        plan.append((level, idx))
        return b"\x00" * 32

    build(record)
    return build(store.node_getter(session, plan))


def consistency(db: Database, old: int, new: int) -> list[bytes]:
    """The consistency proof between tree sizes ``old <= new <= tree size``."""
    with db.session() as s:
        size = store.tree_state(s).size
        if not 0 <= old <= new or new > size:
            raise InputError(
                "tree sizes out of range",
                field="old/new",
                value=f"{old}/{new}",
                allowed=f"0 <= old <= new <= {size} (the tree's size)",
            )
        return _planned(s, lambda get: merkle.consistency_proof(get, old, new))


def _covering(db: Database, settings: Settings, idx: int, now: datetime) -> store.CheckpointRecord:
    with db.session() as s:
        cp = store.latest_checkpoint(s)
    if cp is None or cp.size <= idx:
        cp = publish_checkpoint(db, settings, now=now)
    if cp is None or cp.size <= idx:
        raise ConflictError(
            "the event is not in a checkpoint yet; the next checkpoint comes within "
            f"{settings.log_checkpoint_interval:g} s: try again"
        )
    return cp


def _leaf_index(db: Database, event_id: str, now: datetime) -> tuple[int, str]:
    with db.session() as s:
        found = store.event_leaf(s, event_id)
    if found is None:
        integrate(db, now=now)
        with db.session() as s:
            found = store.event_leaf(s, event_id)
    if found is None:
        raise NotFoundError(
            f"ledger event {event_id!r} does not exist; "
            "`optin consent history MEMBER` lists a member's event ids"
        )
    return found


def inclusion(db: Database, index: int, size: int) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of ``size`` leaves (one query)."""
    with db.session() as s:
        return _planned(s, lambda get: merkle.inclusion_proof(get, index, size))


_proof = inclusion


def inclusion_proof_file(
    db: Database, settings: Settings, event_id: str, *, now: datetime
) -> ProofFile:
    """The public proof of an event: leaf index, inclusion proof and the latest cosigned
    checkpoint (no salt: the leaf cannot be opened from it). One transaction, two
    indexed queries (leaf + checkpoint, then the stored subtree hashes) when the event
    is already in a checkpoint; otherwise the tree is integrated / a checkpoint signed
    first."""
    with db.session() as s:
        leaf, cp = store.leaf_and_checkpoint(s, event_id)
        if leaf is not None and cp is not None and cp.size > leaf[0]:
            idx, size = leaf[0], cp.size
            return ProofFile(
                idx, tuple(_planned(s, lambda get: merkle.inclusion_proof(get, idx, size))),
                cp.cosigned,
            )  # fmt: skip
    idx, _ = _leaf_index(db, event_id, now)
    cp = _covering(db, settings, idx, now)
    return ProofFile(idx, tuple(_proof(db, idx, cp.size)), cp.cosigned)


def member_proof_file(
    db: Database,
    settings: Settings,
    member_id: str,
    event_id: str,
    *,
    now: datetime,
    receipt: dict[str, Any] | None = None,
) -> ProofFile:
    """The member's proof file: as :func:`inclusion_proof_file`, with the receipt, its
    canonical bytes and the salt in the ``extra`` line, so ``optin log verify`` can open
    the leaf. Only for the member's own events; NotFoundError once the salt is erased."""
    idx, owner = _leaf_index(db, event_id, now)
    if owner != member_id:
        raise NotFoundError("no such consent event in your history")
    with db.session() as s:
        got = store.leaf_salt(s, event_id)
    salt = got[0] if got is not None else None
    if got is None or salt is None:
        raise NotFoundError("this event's proof salt was erased with your personal data")
    canonical = got[1]
    cp = _covering(db, settings, idx, now)
    extra = bundle_extra(salt, canonical, receipt)
    return ProofFile(idx, tuple(_proof(db, idx, cp.size)), cp.cosigned, extra)


# -- status and verification ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogStatus:
    tree_size: int
    ledger_length: int
    checkpoint_size: int | None
    checkpoint_at: datetime | None
    cosigners: tuple[str, ...]
    quorum: int
    witnesses: int

    @property
    def quorum_met(self) -> bool:
        return len(self.cosigners) >= self.quorum

    def to_dict(self) -> dict[str, Any]:
        return {
            "tree_size": self.tree_size,
            "ledger_length": self.ledger_length,
            "checkpoint_size": self.checkpoint_size,
            "checkpoint_at": self.checkpoint_at.isoformat() if self.checkpoint_at else None,
            "cosigners": list(self.cosigners),
            "quorum": self.quorum,
            "witnesses": self.witnesses,
            "quorum_met": self.quorum_met,
        }


def log_status(db: Database, settings: Settings) -> LogStatus:
    with db.session() as s:
        state = store.tree_state(s)
        length = store.ledger_length(s)
        cp = store.latest_checkpoint(s)
    return LogStatus(
        state.size,
        length,
        cp.size if cp else None,
        cp.created_at if cp else None,
        cp.cosigners if cp else (),
        quorum(settings),
        len(settings.log_witnesses),
    )


def verify_log(db: Database, settings: Settings) -> LogReport:
    """Verify the whole stored log against the chain, the stored tree state and every
    checkpoint, by :mod:`optin.services.log_verify` (a verifier that shares no code
    with the builder)."""
    try:
        key: Verifier | None = log_signer(settings).verifier
    except ConfigError:
        key = None
    return verify_tree(db, key)


def verify_proof_text(
    text: str, vkey: str, witness_keys: list[str] | None = None
) -> dict[str, Any]:
    """Check a ``.tlog-proof`` file offline (no database, no network): the log's
    signature, the inclusion proof, and, for an optin member bundle, that the salt and
    receipt open the leaf. Raises IntegrityError when anything fails."""
    key = parse_vkey(vkey)
    try:
        pf = ProofFile.decode(text)
        if pf.extra is None:
            raise NoteError(
                "the proof file carries no receipt bundle (extra line), so its leaf "
                "cannot be opened; use the member's download"
            )
        from optin.tlog.leaf import opened_leaf

        leaf, fields = opened_leaf(pf.extra)
        cp = pf.verify(leaf, key)
        ws = [parse_vkey(w, "--witness") for w in witness_keys or []]
        cosigners = count_cosignatures(pf.checkpoint, ws) if ws else []
    except NoteError as e:
        raise IntegrityError(f"the proof does not verify: {e}") from None
    if int(fields.get("seq", -1)) != pf.index + 1:
        raise IntegrityError("the proof does not verify: the leaf index is not the event's seq")
    return {
        "ok": True,
        "origin": cp.origin,
        "tree_size": cp.size,
        "index": pf.index,
        "event_id": fields.get("event_id"),
        "purpose": fields.get("purpose"),
        "action": fields.get("action"),
        "at": fields.get("at"),
        "cosigners": cosigners,
    }


# -- pinning (snapshot manifests) ----------------------------------------------------------


def manifest_pin(db: Database, settings: Settings, length: int, *, now: datetime) -> dict[str, Any]:
    """What a snapshot manifest records of the log: a checkpoint covering the first
    ``length`` ledger events (signed now if the latest does not), with its cosignatures
    and the log's verifier key. Empty when the log has no key (not set up)."""
    if not key_path(settings).exists():
        return {}
    with db.session() as s:
        cp = store.latest_checkpoint(s)
    if cp is None or cp.size < length:
        cp = publish_checkpoint(db, settings, now=now, force=True)
    if cp is None:
        return {}
    return {
        "transparency_log": {
            "checkpoint": cp.cosigned,
            "tree_size": cp.size,
            "log_key": log_signer(settings).verifier.vkey,
            "cosigners": list(cp.cosigners),
        }
    }


def check_manifest_pin(
    db: Database, pinned: dict[str, Any], trusted: Verifier | None = None
) -> str | None:
    """Why a manifest's pinned checkpoint is not a point of the current tree (None: it
    is, or the manifest pins none): the log's signature (by ``trusted`` when given, and
    the key the manifest names must be it), and the tree's root at its size."""
    pin = pinned.get("transparency_log")
    if not pin:
        return None
    try:
        key = Verifier.parse(str(pin["log_key"]))
        if trusted is not None and key != trusted:
            return (
                f"the manifest names the log key {key.vkey[:48]}..., not the trusted log "
                f"key {trusted.vkey[:48]}..."
            )
        cp, _ = Checkpoint.open(str(pin["checkpoint"]), [key])
    except (KeyError, NoteError) as e:
        return f"the pinned checkpoint does not verify: {e}"
    if cp.size < int(pinned.get("length", 0)):
        return "the pinned checkpoint does not cover the pinned ledger length"
    with db.session() as s:
        if store.tree_state(s).size < cp.size:
            return f"the tree is smaller than the pinned checkpoint ({cp.size})"
        root = _planned(s, lambda get: [merkle.range_hash(get, 0, cp.size)])[0]
    if root != cp.root:
        return (
            f"the tree at size {cp.size} differs from the pinned checkpoint: "
            "the ledger's history was rewritten"
        )
    return None


@dataclass(frozen=True, slots=True)
class PinnedLeaf:
    """A ledger event as the tree holds it, for a check against a pinned checkpoint.

    ``data`` (the leaf data) is recomputed from the event row as it reads now when its
    salt is readable (``opened``), else it is the stored leaf data (the member was
    erased: the event's content can no longer be tied to its leaf, only its place);
    ``changed``: the stored leaf data is not the commitment to the row as it reads now.
    ``proof`` is the inclusion proof of ``index`` in the pinned tree, built from the
    stored subtree hashes (empty when the leaf is not below the pinned size); the
    caller verifies it against the pinned root with its own verifier."""

    event_id: str
    seq: int | None
    index: int | None
    data: bytes | None
    opened: bool
    changed: bool
    proof: tuple[bytes, ...]


def pinned_leaves(db: Database, size: int, event_ids: list[str]) -> list[PinnedLeaf]:
    """:class:`PinnedLeaf` of each of ``event_ids`` against the tree of ``size`` leaves
    (events without a leaf come back with ``index`` None). Batched: the leaves and
    events in chunks, every proof's stored hashes in a few queries."""
    wanted = sorted(set(event_ids))
    out: list[PinnedLeaf] = []
    with db.session() as s:
        ring = KeyRing(s)
        rows = {r.leaf_event_id: r for r in store.leaves_for_events(s, wanted, ring)}
        plans: dict[int, list[tuple[int, int]]] = {}
        for r in rows.values():
            if int(r.idx) < size:
                plan: list[tuple[int, int]] = []
                merkle.inclusion_proof(_recorder(plan), int(r.idx), size)
                plans[int(r.idx)] = plan
        get = store.node_getter(s, (k for plan in plans.values() for k in plan))
        for eid in wanted:
            r = rows.get(eid)
            if r is None:
                out.append(PinnedLeaf(eid, None, None, None, False, False, ()))
                continue
            out.append(_pinned(r, ring, size, get))
    return out


def _recorder(plan: list[tuple[int, int]]) -> merkle.NodeGetter:
    def record(level: int, idx: int) -> bytes:
        plan.append((level, idx))
        return b"\x00" * 32

    return record


def _pinned(r: Any, ring: KeyRing, size: int, get: merkle.NodeGetter) -> PinnedLeaf:
    idx = int(r.idx)
    stored = bytes(r.data)
    salt = store.open_salt(ring, r) if r.seq is not None else None
    data = stored if salt is None else commitment(salt, store.canonical_bytes(r))
    proof = tuple(merkle.inclusion_proof(get, idx, size)) if idx < size else ()
    return PinnedLeaf(
        r.leaf_event_id,
        None if r.seq is None else int(r.seq),
        idx,
        data,
        salt is not None,
        data != stored,
        proof,
    )


def tree_problem(db: Database, settings: Settings) -> str | None:
    """For ``optin ledger verify``: why the tree or the latest checkpoint disagrees with
    the chain (None: they agree, or the log is not in use: no leaves, no checkpoint)."""
    with db.session() as s:
        if store.tree_state(s).size == 0 and store.latest_checkpoint(s) is None:
            return None
    report = verify_log(db, settings)
    return report.problem
