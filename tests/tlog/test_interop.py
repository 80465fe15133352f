"""optin's proofs and notes checked by code no one here wrote.

* ``sigstore`` (the Sigstore Python client): its RFC 6962 inclusion verifier
  (``sigstore._internal.merkle.verify_merkle_inclusion``, ported from Trillian), run on
  a real ``TransparencyLogEntry`` that carries optin's leaf, index, tree size, root and
  audit path; and its signed-note parser on optin's checkpoint.
* ``pymerkle``: an independent RFC 6962 tree (SHA-256 with the 0x00/0x01 prefixes):
  same roots; its inclusion verifier accepts optin's audit path (laid out as its
  ``InclusionProof``); its consistency verifier accepts optin's trees.
* the C2SP signed-note example and Go's ``golang.org/x/mod/sumdb/note`` test vectors
  (key ids, verifier keys, signer keys, the signed note byte for byte).
"""

from __future__ import annotations

import base64

import pytest
from pymerkle import InmemoryTree
from pymerkle import verify_consistency as pm_verify_consistency
from pymerkle import verify_inclusion as pm_verify_inclusion
from pymerkle.core import _inclusion_path_layout
from pymerkle.proof import InclusionProof as PmInclusionProof
from sigstore._internal.merkle import verify_merkle_inclusion
from sigstore._internal.rekor.checkpoint import SignedNote
from sigstore.errors import VerificationError
from sigstore.models import TransparencyLogEntry
from sigstore_models.rekor import v1 as rekor_v1

from optin.tlog.checkpoint import Checkpoint, cosign, verify_cosignature
from optin.tlog.merkle import inclusion_proof, leaf_hash, root_from_leaf_hashes
from optin.tlog.note import (
    ALG_COSIGNATURE_V1,
    NoteError,
    Signer,
    Verifier,
    open_note,
    parse_note,
    sign_note,
)
from tests.tlog.test_merkle import getter, mth

LEAVES = [f"consent event {i}".encode() for i in range(23)]


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def _sigstore_entry(body: bytes, index: int, size: int, path: list[bytes], root: bytes) -> Any:
    inner = rekor_v1.TransparencyLogEntry.model_validate(
        {
            "logIndex": str(index),
            "logId": {"keyId": _b64(b"\x01" * 32)},
            "kindVersion": {"kind": "hashedrekord", "version": "0.0.1"},
            "integratedTime": "0",
            "inclusionProof": {
                "logIndex": str(index),
                "rootHash": _b64(root),
                "treeSize": str(size),
                "hashes": [_b64(h) for h in path],
                "checkpoint": {"envelope": "unused\n"},
            },
            "canonicalizedBody": _b64(body),
        }
    )
    return TransparencyLogEntry(inner)


from typing import Any  # noqa: E402


@pytest.mark.parametrize("size", [1, 2, 3, 7, 8, 9, 16, 23])
def test_sigstore_verifies_optin_inclusion_proofs(size: int) -> None:
    leaves = LEAVES[:size]
    get = getter(leaves)
    _, root = root_from_leaf_hashes(leaf_hash(x) for x in leaves)
    for i in range(size):
        path = inclusion_proof(get, i, size)
        verify_merkle_inclusion(_sigstore_entry(leaves[i], i, size, path, root))
        with pytest.raises(VerificationError):
            verify_merkle_inclusion(_sigstore_entry(leaves[i] + b"x", i, size, path, root))


def test_pymerkle_agrees_on_roots_and_verifies_optin_proofs() -> None:
    tree = InmemoryTree(algorithm="sha256")  # security on: 0x00/0x01
    for x in LEAVES:
        tree.append_entry(x)
    for size in range(1, len(LEAVES) + 1):
        leaves = LEAVES[:size]
        _, root = root_from_leaf_hashes(leaf_hash(x) for x in leaves)
        assert tree.get_root(size) == root == mth(leaves)
        get = getter(leaves)
        for i in range(size):
            ours = inclusion_proof(get, i, size)
            rule, _subset = _inclusion_path_layout(i + 1, size)  # pymerkle counts from 1
            proof = PmInclusionProof(
                "sha256", True, size, i + 1, rule, [leaf_hash(leaves[i]), *ours]
            )
            pm_verify_inclusion(leaf_hash(leaves[i]), root, proof)
            # and pymerkle's own proof is made of the same hashes
            theirs = tree.prove_inclusion(i + 1, size)
            assert theirs.path[1:] == ours
        for old in range(1, size + 1):
            pm_verify_consistency(tree.get_root(old), root, tree.prove_consistency(old, size))


# -- signed notes ------------------------------------------------------------------------

C2SP_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
C2SP_NOTE = (
    "This is an example message.\n\n"
    "\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYj"
    "OBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_SIGNED = (
    GO_TEXT + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2"
    "pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
GO_ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"


def test_c2sp_example_note_verifies_with_its_verifier_key() -> None:
    v = Verifier.parse(C2SP_VKEY)
    assert v.vkey == C2SP_VKEY and v.key_id == 0x530D903A
    text, good = open_note(C2SP_NOTE, [v])
    assert text == "This is an example message.\n"
    assert [s.name for s in good] == ["example.com/foo"]
    with pytest.raises(NoteError):
        open_note(C2SP_NOTE.replace("example message", "example massage"), [v])


def test_go_vectors_signer_key_hash_and_signature_byte_for_byte() -> None:
    signer = Signer.parse(GO_SKEY)
    assert signer.skey == GO_SKEY
    assert signer.verifier.vkey == GO_VKEY
    assert signer.key_id == 0xC74F20A3
    assert sign_note(GO_TEXT, signer) == GO_SIGNED  # Ed25519 is deterministic
    _, sigs = parse_note(GO_SIGNED)
    raw = base64.b64decode(GO_SIGNED.rsplit(" ", 1)[1])
    assert raw[:4] == bytes.fromhex("c74f20a3") and len(raw) == 4 + 64
    assert sigs[0].key_id == 0xC74F20A3
    # a note with an unknown key's signature only: rejected; with both: Peter's verified
    enoch = Verifier.parse(GO_ENOCH_VKEY)
    with pytest.raises(NoteError):
        open_note(GO_SIGNED, [enoch])


@pytest.mark.parametrize(
    "bad",
    [
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong id
        "PeterNeumann+c74f20a3+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # unknown alg
        "PeterNeumann+c74f20a3",
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ],
)
def test_mangled_verifier_keys_are_refused(bad: str) -> None:
    with pytest.raises(NoteError):
        Verifier.parse(bad)


def test_sigstore_parses_an_optin_checkpoint_with_our_key_id() -> None:
    signer = Signer("optin.test/log", bytes(range(32)))
    note = sign_note(Checkpoint("optin.test/log", 5, mth(LEAVES[:5])).text(), signer)
    parsed = SignedNote.from_text(note)
    assert parsed.note == Checkpoint("optin.test/log", 5, mth(LEAVES[:5])).text()
    assert parsed.signatures[0].sig_hash == signer.key_id.to_bytes(4, "big")
    assert parsed.signatures[0].name == "optin.test/log"


def test_cosignature_layout() -> None:
    w = Signer("witness.test/w1", bytes(32), ALG_COSIGNATURE_V1)
    text = Checkpoint("optin.test/log", 3, mth(LEAVES[:3])).text()
    sig = cosign(text, w, 1679315147)
    raw = base64.b64decode(sig.line().split(" ")[2])
    assert raw[:4] == w.key_id.to_bytes(4, "big") and len(raw) == 4 + 8 + 64
    assert int.from_bytes(raw[4:12], "big") == 1679315147
    assert w.verifier.vkey.split("+")[2].startswith(_b64(b"\x04" + w.verifier.public)[:4])
    assert verify_cosignature(text, sig, w.verifier) == 1679315147
    assert verify_cosignature(text.replace("\n3\n", "\n4\n"), sig, w.verifier) is None
