"""A members' directory compiled once, loaded quickly by every worker.

A snapshot build's driver writes the directory as JSONL (``work/directory.jsonl``) and
compiles it (:func:`compile_directory`) into an Arrow IPC file next to it holding the
tables a :class:`~optin.privacy.detect.Directory` is made of, already computed: the
name word tuples grouped by first word and in the walk's order, the one-word CJK names,
the surnames, the handles with their bare-handle flags, the normalised profile URLs and
the erased members' markers (keyed hashes, as in the JSONL). Each worker then rebuilds
its sets and dicts from those columns (:func:`load_compiled`) instead of parsing the
JSONL and looking every member's names up in the name lexicon again; the findings are
the same as with ``Directory.from_jsonl`` of the source file, byte for byte.

A compiled file is only used for the JSONL file it was compiled from: it records the
SHA-256 of that file's bytes, the format version and a digest of the name lexicon, and
:func:`load_compiled` refuses it (:class:`~optin.errors.IntegrityError`) when the source
file has changed since, or when it is not the file whose SHA-256 the caller names (a
build passes it in the workers' config); a file that is not a compiled directory of
this version of optin is an :class:`~optin.errors.InputError`. No pickle: Arrow columns
of strings and booleans only.

File layout (one record batch of one row; every column a list): ``walk_first`` (the
first words, sorted), ``walk_groups`` (per first word, its word tuples joined by
newlines, the words of one by spaces: a name's words never contain either),
``cjk_names``, ``surnames``, ``handles``, ``bare`` (one flag per handle), ``urls``
(UTF-8 bytes; ``surrogatepass``, as a URL read from JSON may hold any code point) and
``erased`` (one JSON marker each). Schema metadata: ``format``, ``source_sha256``,
``lexicon`` and ``entries`` (the member lines counted).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optin.errors import InputError, IntegrityError
from optin.privacy.detect import lexicon
from optin.privacy.detect.directory import (
    Directory,
    _erased_of,
    _read_jsonl,
    _Tables,
    _walk_order,
)

if TYPE_CHECKING:
    import pyarrow as pa

#: Bump when the tables a directory is made of change meaning (matching code, layout).
COMPILED_FORMAT = "optin-directory-1"
_WORD_SEP = " "
_TUPLE_SEP = "\n"


def _schema() -> pa.Schema:
    import pyarrow as pa

    text = pa.large_list(pa.large_string())
    return pa.schema(
        [
            ("walk_first", text),
            ("walk_groups", text),
            ("cjk_names", text),
            ("surnames", text),
            ("handles", text),
            ("bare", pa.large_list(pa.bool_())),
            ("urls", pa.large_list(pa.large_binary())),
            ("erased", text),
        ]
    )


def _file_sha256(path: Path, what: str) -> str:
    try:
        with path.open("rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except OSError as exc:
        raise InputError(f"cannot read {what}: {exc.strerror}", file=str(path)) from None


def compile_directory(source: str | Path, out: str | Path) -> str:
    """Compile the directory JSONL file ``source`` into ``out`` (written atomically,
    mode 0600); returns the SHA-256 (hex) of the file written. InputError on bad input,
    exactly as ``Directory.from_jsonl`` reports it."""
    import pyarrow as pa

    from optin.files import atomic_binary

    src, dst = Path(source), Path(out)
    before = _file_sha256(src, "directory file")
    t = _Tables()
    markers: list[dict[str, Any]] = []
    for name, handle, url in _read_jsonl(src, markers):
        t.add(name, handle, url)
    if _file_sha256(src, "directory file") != before:
        raise IntegrityError("the directory file changed while it was compiled", where=str(src))
    t.forget_names()  # the per-name cache: not part of the tables
    meta = {
        "format": COMPILED_FORMAT,
        "source_sha256": before,
        "lexicon": lexicon.digest(),
        "entries": str(t.count),
    }
    schema = _schema().with_metadata(meta)
    first = sorted(t.walk)
    # each first word's tuples in the walk's order, packed; the sets are freed as we go
    groups = [
        _TUPLE_SEP.join(_WORD_SEP.join(v) for v in sorted(t.walk.pop(f), key=_walk_order))
        for f in first
    ]
    columns: dict[str, Any] = {
        "walk_first": first,
        "walk_groups": groups,
        "cjk_names": sorted(t.cjk_names),
        "surnames": sorted(t.surnames),
        "handles": t.handles,
        "bare": t.bare,
        "urls": [u.encode("utf-8", "surrogatepass") for u in t.urls],
        "erased": [json.dumps(m, sort_keys=True) for m in markers],
    }
    del first, groups, t, markers
    arrays = []
    for f in schema:  # one column at a time: its Python list is dropped once in Arrow
        values = columns.pop(f.name)
        arrays.append(
            pa.LargeListArray.from_arrays(
                pa.array([0, len(values)], pa.int64()), pa.array(values, f.type.value_type)
            )
        )
        del values
    with atomic_binary(dst, mode=0o600) as out_file, pa.ipc.new_file(out_file, schema) as w:
        w.write_batch(pa.record_batch(arrays, schema=schema))
    return _file_sha256(dst, "compiled directory file")


def compile_directory_job(paths: tuple[str, str]) -> str:
    """:func:`compile_directory` of ``(source, out)``, as an executor's task (one
    argument, picklable by reference): a build compiles on a worker, whose memory peaks
    as a JSONL load does anyway, and the driver's stays as it was."""
    source, out = paths
    return compile_directory(source, out)


def load_compiled(
    path: Path, source: Path, *, sha256: str | None = None, erased_key: bytes | None = None
) -> Directory:
    """The Directory of the compiled file ``path`` (see :meth:`Directory.from_compiled`)."""
    import pyarrow as pa

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(
            f"cannot read compiled directory file: {exc.strerror}", file=str(path)
        ) from None
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise IntegrityError(
            "the compiled directory file is not the one expected (its SHA-256 differs "
            "from the one recorded when it was written): it was replaced or altered",
            where=str(path),
        )
    not_compiled = InputError(
        "not a compiled directory file", file=str(path),
        allowed=f"a file compile_directory wrote ({COMPILED_FORMAT})",
    )  # fmt: skip
    try:
        reader = pa.ipc.open_file(pa.py_buffer(data))
        meta = {k.decode(): v.decode() for k, v in (reader.schema.metadata or {}).items()}
    except (pa.ArrowException, ValueError, UnicodeDecodeError):
        raise not_compiled from None
    if meta.get("format") != COMPILED_FORMAT:
        if "format" not in meta:
            raise not_compiled
        raise InputError(
            "compiled directory of another format", file=str(path), value=meta["format"],
            allowed=f"{COMPILED_FORMAT}: compile it again from its JSONL file",
        )  # fmt: skip
    if _file_sha256(source, "directory file") != meta.get("source_sha256"):
        raise IntegrityError(
            f"the compiled directory is stale: it was not compiled from {source} as that "
            "file is now; compile it again",
            where=str(path),
        )
    if meta.get("lexicon") != lexicon.digest():
        raise InputError(
            "compiled directory made with other name lists", file=str(path),
            allowed="a directory compiled by this installation: compile it again",
        )  # fmt: skip
    try:
        cols = _columns(reader)
        count = int(meta["entries"])
        first, groups = cols["walk_first"], cols["walk_groups"]
        walk = {
            f: [tuple(map(sys.intern, v.split(_WORD_SEP))) for v in g.split(_TUPLE_SEP)]
            for f, g in zip(first, groups, strict=True)
        }
        if len(walk) != len(first) or len(cols["bare"]) != len(cols["handles"]) or count < 0:
            raise ValueError("lengths")
        urls = [u.decode("utf-8", "surrogatepass") for u in cols["urls"]]
        markers = [json.loads(m) for m in cols["erased"]]
        if not all(isinstance(m, dict) for m in markers):
            raise ValueError("markers")
    except (pa.ArrowException, ValueError, KeyError, IndexError, TypeError):
        raise not_compiled from None
    del reader, data  # the Arrow buffers: the Python lists hold everything now
    erased = _erased_of(markers, erased_key, str(source))
    return Directory._made(
        count, walk, cols["cjk_names"], cols["surnames"], cols["handles"], cols["bare"], urls,
        erased,
    )  # fmt: skip


def _columns(reader: Any) -> dict[str, list[Any]]:
    """The columns of a compiled file's one row, as Python lists (ValueError: another
    layout)."""
    if reader.num_record_batches != 1 or not reader.schema.remove_metadata().equals(_schema()):
        raise ValueError("layout")
    batch = reader.get_batch(0)
    if batch.num_rows != 1:
        raise ValueError("rows")
    out: dict[str, list[Any]] = {}
    for name in batch.schema.names:
        col = batch.column(name)
        values = col.flatten()
        if col.null_count or values.null_count:
            raise ValueError(f"nulls in {name}")
        out[name] = values.to_pylist()
    return out


__all__ = ["COMPILED_FORMAT", "compile_directory", "compile_directory_job", "load_compiled"]
