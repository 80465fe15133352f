"""Signed notes (``c2sp.org/signed-note``): Ed25519 keys, key ids, verifier keys.

A note is UTF-8 text ending in a newline, a blank line, and signature lines
``— <name> base64(key id (4 bytes, big-endian) || signature)``. A key id is
``SHA-256(name || 0x0A || type || public key)[:4]``; type ``0x01`` is a plain Ed25519
note signature, ``0x04`` an Ed25519 timestamped cosignature
(``c2sp.org/tlog-cosignature``). A verifier key is ``name+hex(key id)+base64(type ||
public key)``; a signer key (the format of Go's ``golang.org/x/mod/sumdb/note``) is
``PRIVATE+KEY+name+hex(key id)+base64(type || 32-byte seed)``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = [
    "ALG_COSIGNATURE_V1",
    "ALG_ED25519",
    "NoteError",
    "Signature",
    "Signer",
    "Verifier",
    "format_note",
    "generate_signer_key",
    "key_id",
    "open_note",
    "parse_note",
    "sign_note",
]

ALG_ED25519 = 0x01
ALG_COSIGNATURE_V1 = 0x04
DASH = "\u2014"
MAX_SIGNATURES = 100


class NoteError(ValueError):
    """A malformed note or key, or a note no trusted key verifies."""


def key_id(name: str, alg: int, public: bytes) -> int:
    """``SHA-256(name || "\\n" || alg || public)[:4]`` as a big-endian uint32."""
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([alg]) + public).digest()
    return int.from_bytes(digest[:4], "big")


def _check_name(name: str) -> str:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise NoteError(f"key name {name!r} must be non-empty, without spaces or '+'")
    return name


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise NoteError(f"{what} is not valid base64") from None


def _split_key(text: str, parts: int, what: str) -> list[str]:
    fields = text.strip().split("+", parts - 1)
    if len(fields) != parts:
        raise NoteError(f"{what} must have {parts} '+'-separated parts, found {len(fields)}")
    return fields


@dataclass(frozen=True, slots=True)
class Verifier:
    """A public key that checks one key name's signatures of one type."""

    name: str
    alg: int
    public: bytes

    @property
    def key_id(self) -> int:
        return key_id(self.name, self.alg, self.public)

    @property
    def vkey(self) -> str:
        """The ``name+hash+base64`` verifier-key text."""
        data = base64.b64encode(bytes([self.alg]) + self.public).decode("ascii")
        return f"{self.name}+{self.key_id:08x}+{data}"

    @classmethod
    def parse(cls, vkey: str) -> Verifier:
        """Parse ``name+hash+base64(type || key)``; the hash must match the key."""
        name, hexid, data = _split_key(vkey, 3, "a verifier key")
        _check_name(name)
        raw = _b64decode(data, "the verifier key's key data")
        if len(hexid) != 8 or not raw:
            raise NoteError("a verifier key needs an 8-digit hex key id and key data")
        alg, public = raw[0], raw[1:]
        if alg not in (ALG_ED25519, ALG_COSIGNATURE_V1) or len(public) != 32:
            raise NoteError(
                f"unsupported verifier key type {alg:#04x} (allowed: 0x01 Ed25519, "
                "0x04 Ed25519 cosignature) or key length"
            )
        v = cls(name, alg, public)
        try:
            wanted = int(hexid, 16)
        except ValueError:
            raise NoteError("the verifier key's key id is not hex") from None
        if hexid != hexid.lower() or wanted != v.key_id:
            raise NoteError("the verifier key's key id does not match its name and key")
        return v

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True


@dataclass(frozen=True, slots=True)
class Signer:
    """An Ed25519 private key with its key name and signature type."""

    name: str
    seed: bytes
    alg: int = ALG_ED25519

    def _private(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.seed)

    @property
    def verifier(self) -> Verifier:
        pub = self._private().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return Verifier(self.name, self.alg, pub)

    @property
    def key_id(self) -> int:
        return self.verifier.key_id

    @property
    def skey(self) -> str:
        """The ``PRIVATE+KEY+name+hash+base64(type || seed)`` text (keep it secret)."""
        data = base64.b64encode(bytes([self.alg]) + self.seed).decode("ascii")
        return f"PRIVATE+KEY+{self.name}+{self.key_id:08x}+{data}"

    @classmethod
    def parse(cls, skey: str) -> Signer:
        p1, p2, name, hexid, data = _split_key(skey, 5, "a signer key")
        if (p1, p2) != ("PRIVATE", "KEY"):
            raise NoteError("a signer key starts with PRIVATE+KEY+")
        _check_name(name)
        raw = _b64decode(data, "the signer key's key data")
        if len(raw) != 33 or raw[0] not in (ALG_ED25519, ALG_COSIGNATURE_V1):
            raise NoteError("a signer key holds a type byte (0x01 or 0x04) and a 32-byte seed")
        s = cls(name, raw[1:], raw[0])
        if hexid != f"{s.key_id:08x}":
            raise NoteError("the signer key's key id does not match its name and key")
        return s

    def sign(self, message: bytes) -> bytes:
        return self._private().sign(message)


def generate_signer_key(name: str, seed: bytes, alg: int = ALG_ED25519) -> Signer:
    """A signer from 32 random bytes the caller supplies (``os.urandom(32)``)."""
    _check_name(name)
    if len(seed) != 32:
        raise NoteError("an Ed25519 seed is 32 bytes")
    return Signer(name, seed, alg)


@dataclass(frozen=True, slots=True)
class Signature:
    """One signature line: key name, key id and the signature bytes after the id."""

    name: str
    key_id: int
    sig: bytes

    def line(self) -> str:
        data = base64.b64encode(struct.pack(">I", self.key_id) + self.sig).decode("ascii")
        return f"{DASH} {self.name} {data}\n"


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise NoteError("note text must end in a newline")
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise NoteError("note text must not contain control characters")


def parse_note(note: str) -> tuple[str, list[Signature]]:
    """Split a signed note into its text (with the final newline) and signature lines."""
    _check_text(note)
    cut = note.rfind("\n\n")
    if cut < 0:
        raise NoteError("a signed note needs a blank line before its signatures")
    text, block = note[: cut + 1], note[cut + 2 :]
    sigs: list[Signature] = []
    for line in block.splitlines():
        head, _, rest = line.partition(" ")
        name, _, data = rest.partition(" ")
        if head != DASH or not name or not data or " " in data:
            raise NoteError(f"malformed signature line {line[:60]!r}")
        raw = _b64decode(data, "a signature")
        if len(raw) < 5:
            raise NoteError("a signature is a 4-byte key id and the signature")
        sigs.append(Signature(name, int.from_bytes(raw[:4], "big"), raw[4:]))
    if not sigs:
        raise NoteError("a signed note needs at least one signature")
    if len(sigs) > MAX_SIGNATURES:
        raise NoteError(f"a note may carry at most {MAX_SIGNATURES} signatures")
    return text, sigs


def format_note(text: str, signatures: Iterable[Signature]) -> str:
    _check_text(text)
    return text + "\n" + "".join(s.line() for s in signatures)


def sign_note(text: str, signer: Signer) -> str:
    """``text`` signed by ``signer`` as a note (an Ed25519 note signature, type 0x01)."""
    _check_text(text)
    sig = Signature(signer.name, signer.key_id, signer.sign(text.encode("utf-8")))
    return format_note(text, [sig])


def open_note(note: str, verifiers: Sequence[Verifier]) -> tuple[str, list[Signature]]:
    """Verify ``note`` with plain Ed25519 ``verifiers``: returns the text and the
    signatures that verified. Unknown signatures are ignored; one from a known key that
    fails to verify, or none verified, raises :class:`NoteError`."""
    text, sigs = parse_note(note)
    known = {(v.name, v.key_id): v for v in verifiers if v.alg == ALG_ED25519}
    good: list[Signature] = []
    for s in sigs:
        v = known.get((s.name, s.key_id))
        if v is None:
            continue
        if not v.verify(text.encode("utf-8"), s.sig):
            raise NoteError(f"the signature of {s.name} does not verify")
        good.append(s)
    if not good:
        raise NoteError("no signature from a trusted key on the note")
    return text, good
