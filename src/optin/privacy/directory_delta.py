"""What changed in the members' directory between two builds, as a matcher.

An incremental snapshot build reuses its parent's redacted rows. The directory
recognizer's findings depend on the members' directory, which changes between builds
(members join, rename, are erased), so a reused row is only right when no change of the
directory can change its redaction. This module answers that without keeping any name:

* :func:`directory_elements` turns a compiled directory (the build's tables) into its
  **elements**, the exact lookup entries the matcher consults (a name's word tuple, a
  surname after a title, a handle, a bare handle, a profile URL, and the erased
  members' keyed-hash entries), each as keyed hashes under the snapshot's content-hash
  key: a sorted array of unique byte strings, kept beside the parent's rows
  (:func:`write_elements`, :func:`read_elements`). Nothing in it reads back as a name
  without the key.
* :class:`DirectoryDelta` is made of the elements in one set and not the other (both
  directions: added and removed entries) and matches them in a text the way the
  directory recognizer does, over keyed hashes of the text's words
  (:class:`~optin.privacy.detect.ErasedNames`, the matcher erased members already use).

Why that is enough: :meth:`Directory.find` is a union over its entries (at each word
the longest name that follows; handles, surnames, URLs by set membership), so the
findings on a text under the parent's and the child's directory can differ only where
an entry of one and not the other matches; :meth:`DirectoryDelta.touches` says whether
one does (anywhere in the text, on the view the analyzer detects on). The surrogate
operator asks the directory too (a fake must not name a member): a fake accepted under
the parent's directory is refused under the child's only if an added entry matches it
(:meth:`DirectoryDelta.names_any`), and a fake the parent refused is marked on its row.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optin.errors import InputError
from optin.privacy.detect import lexicon
from optin.privacy.detect.directory import MARKER_VERSION, Directory, ErasedNames, keyed_hash
from optin.privacy.detect.unicode_view import view

if TYPE_CHECKING:
    import pyarrow as pa

#: Bump when the elements mean something else (matching code, layout).
ELEMENTS_FORMAT = "optin-directory-elements-1"
_HASH = 16  # bytes of a keyed hash (the directory's MAC_BYTES)

# the element kinds: one byte in front of the element's hashes
_NAME, _SURNAME, _HANDLE, _BARE, _URL = b"n", b"s", b"h", b"b", b"u"
# an erased member's entries (keyed hashes under the platform's directory key)
_E_NAME, _E_SURNAME, _E_HANDLE, _E_BARE, _E_URL = b"N", b"S", b"H", b"B", b"U"
_MARKER_FIELD = {
    _NAME: "names", _SURNAME: "surnames", _HANDLE: "handles", _BARE: "bare", _URL: "urls",
    _E_NAME: "names", _E_SURNAME: "surnames", _E_HANDLE: "handles", _E_BARE: "bare",
    _E_URL: "urls",
}  # fmt: skip


def _elements_of(cols: dict[str, list[Any]], key: bytes) -> Iterator[bytes]:
    """The elements of a compiled directory's columns (see the module docstring)."""
    cache: dict[str, bytes] = {}

    def h(token: str) -> bytes:
        got = cache.get(token)
        if got is None:
            got = cache[token] = keyed_hash(key, token)
        return got

    from optin.privacy.detect.directory_compiled import _TUPLE_SEP, _WORD_SEP

    for group in cols["walk_groups"]:
        for v in group.split(_TUPLE_SEP):
            yield _NAME + b"".join(h(w) for w in v.split(_WORD_SEP))
    for w in cols["cjk_names"]:  # one-word CJK names are walk tuples of one word
        yield _NAME + h(w)
    for w in cols["surnames"]:
        yield _SURNAME + h(w)
    for handle, bare in zip(cols["handles"], cols["bare"], strict=True):
        hh = keyed_hash(key, handle)  # one per member: not worth a cache entry
        yield _HANDLE + hh
        if bare:
            yield _BARE + hh
    for u in cols["urls"]:
        yield _URL + keyed_hash(key, u.decode("utf-8", "surrogatepass"))
    for m in cols["erased"]:
        marker = json.loads(m)
        for kind, name in ((_E_SURNAME, "surnames"), (_E_HANDLE, "handles"),
                           (_E_BARE, "bare"), (_E_URL, "urls")):  # fmt: skip
            for x in marker.get(name, []):
                yield kind + bytes.fromhex(x)
        for v in marker.get("names", []):
            yield _E_NAME + b"".join(bytes.fromhex(x) for x in v)


def directory_elements(compiled: str | Path, source: str | Path, key: bytes) -> pa.Array:
    """The elements of the compiled directory ``compiled`` (of the JSONL ``source``):
    sorted, unique, keyed with ``key``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from optin.privacy.detect.directory_compiled import _columns, _file_sha256

    src = Path(source)
    data = Path(compiled).read_bytes()
    reader = pa.ipc.open_file(pa.py_buffer(data))
    meta = {k.decode(): v.decode() for k, v in (reader.schema.metadata or {}).items()}
    if meta.get("source_sha256") != _file_sha256(src, "directory file"):
        raise InputError("compiled directory is not of this directory file", file=str(compiled))
    cols = _columns(reader)
    del reader, data
    arr = pa.array(_elements_of(cols, key), pa.binary())
    return pc.unique(arr).sort() if len(arr) else arr


def _schema(meta: dict[str, str]) -> pa.Schema:
    import pyarrow as pa

    return pa.schema([("element", pa.binary())], metadata=meta)


def write_elements(path: Path, elements: pa.Array) -> None:
    """The elements to ``path`` (Arrow IPC, atomically, mode 0600)."""
    import pyarrow as pa

    from optin.files import atomic_binary

    schema = _schema({"format": ELEMENTS_FORMAT, "lexicon": lexicon.digest()})
    with atomic_binary(path, mode=0o600) as out, pa.ipc.new_file(out, schema) as w:
        w.write_table(pa.table([elements], schema=schema))


def read_elements(path: Path) -> pa.Array | None:
    """The elements :func:`write_elements` wrote; None when the file is missing, of
    another format or made with other name lists (a build then treats every row as
    touched)."""
    import pyarrow as pa

    try:
        with pa.memory_map(str(path)) as src:
            table = pa.ipc.open_file(src).read_all()
    except (OSError, pa.ArrowException):
        return None
    meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    if meta.get("format") != ELEMENTS_FORMAT or meta.get("lexicon") != lexicon.digest():
        return None
    if table.column_names != ["element"]:
        return None
    return table["element"].combine_chunks()


def elements_job(args: tuple[str, str, str, str]) -> int:
    """:func:`directory_elements` of ``(compiled, source, out, key hex)`` written to
    ``out``, as an executor's task; returns the number of elements."""
    compiled, source, out, key_hex = args
    elements = directory_elements(compiled, source, bytes.fromhex(key_hex))
    write_elements(Path(out), elements)
    return len(elements)


def _marker(elements: Iterable[bytes], plain: bool) -> dict[str, Any]:
    """One erasure-style marker holding ``elements`` (of the plain or the erased kinds)."""
    out: dict[str, Any] = {"v": MARKER_VERSION, "names": [], "surnames": [], "handles": [],
                           "bare": [], "urls": []}  # fmt: skip
    names = (_NAME,) if plain else (_E_NAME,)
    for e in elements:
        kind, body = e[:1], e[1:]
        if kind in names:
            out["names"].append([body[i : i + _HASH].hex() for i in range(0, len(body), _HASH)])
        else:
            out[_MARKER_FIELD[kind]].append(body.hex())
    return out


class DirectoryDelta:
    """The entries in one of two directories and not the other, matched in texts.

    ``key`` is the key the elements were made with (the snapshot's content-hash key),
    ``directory_key`` the platform's directory key that erased members' entries are
    hashed with (``b""``: nobody was erased in either build)."""

    def __init__(self, changed: Iterable[bytes], key: bytes, directory_key: bytes) -> None:
        plain: list[bytes] = []
        erased: list[bytes] = []
        for e in changed:
            (plain if e[:1].islower() else erased).append(e)
        self.size = len(plain) + len(erased)
        self._dirs: list[Directory] = []
        if plain:
            self._dirs.append(_matcher(key, _marker(plain, True)))
        if erased:
            if not directory_key:
                raise ValueError("erased members' entries changed but no directory key is known")
            self._dirs.append(_matcher(directory_key, _marker(erased, False)))

    @classmethod
    def between(
        cls, parent: pa.Array, child: pa.Array, key: bytes, directory_key: bytes
    ) -> DirectoryDelta:
        """The delta of two element arrays (:func:`directory_elements`)."""
        import pyarrow.compute as pc

        gone = parent.filter(pc.invert(pc.is_in(parent, value_set=child)))
        new = child.filter(pc.invert(pc.is_in(child, value_set=parent)))
        return cls([*gone.to_pylist(), *new.to_pylist()], key, directory_key)

    def __len__(self) -> int:
        return self.size

    def touches(self, text: str) -> bool:
        """Whether a changed entry matches in ``text`` (as the analyzer sees it: lone
        surrogates replaced, on the normalised view)."""
        if not self._dirs or not text:
            return False
        from optin.privacy.api import _no_surrogates

        t = view(_no_surrogates(text)).text
        return any(next(iter(d.find(t)), None) is not None for d in self._dirs)

    def names_any(self, values: Iterable[str]) -> bool:
        """Whether a changed entry matches in one of ``values`` (as the surrogate
        operator's check of a fake does: on the value itself)."""
        return any(next(iter(d.find(v)), None) is not None for v in values for d in self._dirs)


def _matcher(key: bytes, marker: dict[str, Any]) -> Directory:
    erased = ErasedNames(key, [marker])
    return Directory._made(0, {}, (), (), [], [], (), erased)


__all__ = [
    "ELEMENTS_FORMAT",
    "DirectoryDelta",
    "directory_elements",
    "elements_job",
    "read_elements",
    "write_elements",
]
