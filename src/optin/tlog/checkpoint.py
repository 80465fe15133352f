"""Checkpoints (``c2sp.org/tlog-checkpoint``), Ed25519 cosignatures
(``c2sp.org/tlog-cosignature``, type 0x04) and proof files (``c2sp.org/tlog-proof``).

Time is a parameter: a cosignature's timestamp is passed in.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from optin.tlog.merkle import verify_inclusion
from optin.tlog.note import (
    ALG_COSIGNATURE_V1,
    NoteError,
    Signature,
    Signer,
    Verifier,
    _b64decode,
    open_note,
    parse_note,
)

__all__ = [
    "PROOF_HEADER",
    "Checkpoint",
    "ProofFile",
    "cosign",
    "cosignature_message",
    "count_cosignatures",
    "verify_cosignature",
]

PROOF_HEADER = "c2sp.org/tlog-proof@v1"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The three lines of a checkpoint: origin, tree size, root hash."""

    origin: str
    size: int
    root: bytes

    def text(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode('ascii')}\n"

    @classmethod
    def parse_text(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "" or any(not x for x in lines[:-1]):
            raise NoteError("a checkpoint is at least three non-empty lines")
        origin, size_s, root_s = lines[0], lines[1], lines[2]
        if not size_s.isdigit() or (size_s != "0" and size_s.startswith("0")):
            raise NoteError(f"checkpoint tree size {size_s!r} is not a decimal without zeroes")
        root = _b64decode(root_s, "the checkpoint root hash")
        if len(root) != 32:
            raise NoteError("the checkpoint root hash is not 32 bytes")
        return cls(origin, int(size_s), root)

    @classmethod
    def open(cls, note: str, verifiers: Sequence[Verifier]) -> tuple[Checkpoint, str]:
        """Verify a signed checkpoint with the log's key(s); returns it and its text.
        The signing key's name must be the origin."""
        text, good = open_note(note, verifiers)
        cp = cls.parse_text(text)
        if not any(s.name == cp.origin for s in good):
            raise NoteError(f"no trusted signature by the log {cp.origin!r} on the checkpoint")
        return cp, text


def cosignature_message(checkpoint_text: str, timestamp: int) -> bytes:
    """What an Ed25519 v1 cosigner signs: header, time line, the checkpoint text."""
    return f"cosignature/v1\ntime {timestamp}\n{checkpoint_text}".encode()


def cosign(checkpoint_text: str, signer: Signer, timestamp: int) -> Signature:
    """A timestamped Ed25519 cosignature (``signer.alg`` must be 0x04)."""
    if signer.alg != ALG_COSIGNATURE_V1:
        raise NoteError("a cosigner key has type 0x04")
    sig = signer.sign(cosignature_message(checkpoint_text, timestamp))
    return Signature(signer.name, signer.key_id, struct.pack(">Q", timestamp) + sig)


def verify_cosignature(checkpoint_text: str, sig: Signature, witness: Verifier) -> int | None:
    """The cosignature's timestamp when ``sig`` is a valid cosignature by ``witness``."""
    if (sig.name, sig.key_id) != (witness.name, witness.key_id) or len(sig.sig) != 72:
        return None
    ts = struct.unpack(">Q", sig.sig[:8])[0]
    if ts >= 1 << 63:
        return None
    if not witness.verify(cosignature_message(checkpoint_text, ts), sig.sig[8:]):
        return None
    return int(ts)


def count_cosignatures(note: str, witnesses: Sequence[Verifier]) -> list[str]:
    """Names of ``witnesses`` whose valid cosignature the note carries."""
    text, sigs = parse_note(note)
    ok: list[str] = []
    for w in witnesses:
        if any(verify_cosignature(text, s, w) is not None for s in sigs):
            ok.append(w.name)
    return ok


def _b64_line(line: str) -> bytes:
    raw = _b64decode(line, "a proof hash")
    if len(raw) != 32:
        raise NoteError("a proof hash is 32 bytes")
    return raw


@dataclass(frozen=True, slots=True)
class ProofFile:
    """A ``c2sp.org/tlog-proof@v1`` file: index, inclusion proof, checkpoint note."""

    index: int
    proof: tuple[bytes, ...]
    checkpoint: str  # the signed note, verbatim
    extra: bytes | None = None

    def encode(self) -> str:
        lines = [PROOF_HEADER]
        if self.extra is not None:
            lines.append("extra " + base64.b64encode(self.extra).decode("ascii"))
        lines.append(f"index {self.index}")
        lines += [base64.b64encode(h).decode("ascii") for h in self.proof]
        return "\n".join(lines) + "\n\n" + self.checkpoint

    @classmethod
    def decode(cls, text: str) -> ProofFile:
        head, sep, checkpoint = text.partition("\n\n")
        if not sep:
            raise NoteError("a proof file needs an empty line before its checkpoint")
        lines = head.split("\n")
        if lines[0] != PROOF_HEADER:
            raise NoteError(f"a proof file starts with {PROOF_HEADER!r}")
        rest = lines[1:]
        extra = None
        if rest and rest[0].startswith("extra "):
            extra = _b64decode(rest[0][6:], "the extra data")
            rest = rest[1:]
        if not rest or not rest[0].startswith("index "):
            raise NoteError("a proof file needs an 'index N' line")
        idx = rest[0][6:]
        if not idx.isdigit() or (idx != "0" and idx.startswith("0")):
            raise NoteError(f"proof index {idx!r} is not a decimal without leading zeroes")
        proof = tuple(_b64_line(x) for x in rest[1:])
        return cls(int(idx), proof, checkpoint, extra)

    def verify(self, leaf: bytes, log_key: Verifier) -> Checkpoint:
        """Check the log's signature and that ``leaf`` (a leaf hash) is at ``index``."""
        cp, _ = Checkpoint.open(self.checkpoint, [log_key])
        if not verify_inclusion(leaf, self.index, cp.size, self.proof, cp.root):
            raise NoteError(
                f"the inclusion proof for index {self.index} does not match the "
                f"checkpoint of size {cp.size}"
            )
        return cp
