"""A witness's decision on an ``add-checkpoint`` request (``c2sp.org/tlog-witness``).

Pure: the caller holds the state (latest cosigned size and root per origin), passes the
time, persists the new state atomically before answering.
"""

from __future__ import annotations

from dataclasses import dataclass

from optin.tlog.checkpoint import Checkpoint, cosign
from optin.tlog.merkle import EMPTY_ROOT, verify_consistency
from optin.tlog.note import NoteError, Signer, Verifier, _b64decode, open_note

__all__ = ["Answer", "WitnessState", "add_checkpoint", "parse_request", "request_body"]


@dataclass(frozen=True, slots=True)
class WitnessState:
    size: int
    root: bytes


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"
    new_state: WitnessState | None = None


def request_body(old: int, proof: list[bytes], checkpoint_note: str) -> str:
    import base64

    lines = [f"old {old}"] + [base64.b64encode(h).decode("ascii") for h in proof]
    return "\n".join(lines) + "\n\n" + checkpoint_note


def parse_request(body: str) -> tuple[int, list[bytes], str]:
    head, sep, note = body.partition("\n\n")
    if not sep:
        raise NoteError("the request needs an empty line before the checkpoint")
    lines = head.split("\n")
    if not lines[0].startswith("old "):
        raise NoteError("the request starts with an 'old N' line")
    s = lines[0][4:]
    if not s.isdigit() or (s != "0" and s.startswith("0")):
        raise NoteError("the old size is not a decimal without leading zeroes")
    if len(lines) - 1 > 63:
        raise NoteError("at most 63 consistency proof lines")
    proof = []
    for x in lines[1:]:
        h = _b64decode(x, "a consistency proof line")
        if len(h) != 32:
            raise NoteError("a consistency proof hash is 32 bytes")
        proof.append(h)
    return int(s), proof, note


def add_checkpoint(
    body: str,
    logs: dict[str, list[Verifier]],
    states: dict[str, WitnessState],
    signer: Signer,
    timestamp: int,
) -> Answer:
    """Decide on one request. ``logs``: trusted log keys per origin; ``states``: the
    latest cosigned checkpoint per origin. A 200 answer carries the new state."""
    try:
        old, proof, note = parse_request(body)
        origin = note.split("\n", 1)[0]
    except NoteError as e:
        return Answer(400, f"{e}\n")
    keys = logs.get(origin)
    if not keys:
        return Answer(404, f"unknown log origin {origin!r}\n")
    try:
        text, _ = open_note(note, keys)
        cp = Checkpoint.parse_text(text)
    except NoteError as e:
        return Answer(403, f"{e}\n")
    if old > cp.size:
        return Answer(400, "the old size is larger than the checkpoint size\n")
    have = states.get(origin, WitnessState(0, EMPTY_ROOT))
    if old != have.size:
        return Answer(409, f"{have.size}\n", "text/x.tlog.size")
    if cp.size == 0 and cp.root != EMPTY_ROOT:
        return Answer(422, "a checkpoint of size 0 must have the empty tree's root\n")
    if old == 0 and proof:
        return Answer(422, "no consistency proof is needed from size 0\n")
    if old == cp.size and have.root != cp.root:
        return Answer(422, "same size, different root: a fork\n")
    if old and not verify_consistency(old, cp.size, proof, have.root, cp.root):
        return Answer(422, "the consistency proof does not verify: fork or rewrite\n")
    sig = cosign(text, signer, timestamp)
    return Answer(200, sig.line(), new_state=WitnessState(cp.size, cp.root))
