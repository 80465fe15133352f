"""The rows file's keyed content hash: the Arrow-joined form hashes the same bytes as
the row-by-row definition (:data:`optin.pipeline.incremental.CONTENT_HASH`), nulls
included; it covers the content id, so a row is found in the parent by its hash."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optin.pipeline import incremental as inc
from optin.pipeline.schema import INPUT

KEY = bytes(range(64))
_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
_row = st.fixed_dictionaries(
    {
        "content_id": st.text("abc0123", min_size=1, max_size=8),
        "author_id": st.one_of(st.none(), _text),
        "text": st.one_of(st.none(), _text),
        "kind": st.one_of(st.none(), st.sampled_from(["post", "comment", "x\x1fy"])),
        "language": st.one_of(st.none(), st.sampled_from(["en", "de", ""])),
        "created_at": st.one_of(
            st.none(),
            st.integers(-(10**12), 10**12).map(
                lambda us: datetime(2000, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)
            ),
        ),
    }
)


def _content_hashes_reference(table: pa.Table, key: bytes) -> list[bytes]:
    """``inc.content_hashes`` row by row in Python: the definition."""
    created = pc.cast(table["created_at"], pa.int64()).to_pylist()
    blake, key64 = hashlib.blake2b, key[:64]
    out = []
    for cid, a, k, lang, c, t in zip(
        table["content_id"].to_pylist(),
        table["author_id"].to_pylist(),
        table["kind"].to_pylist(),
        table["language"].to_pylist(),
        created,
        table["text"].to_pylist(),
        strict=True,
    ):
        data = f"{cid}\x1f{a}\x1f{k}\x1f{lang}\x1f{c}\x1f{t or ''}".encode("utf-8", "surrogatepass")
        out.append(blake(data, key=key64, digest_size=16).digest())
    return out


def _table(rows: list[dict[str, object]]) -> pa.Table:
    cols = {f.name: [r.get(f.name) for r in rows] for f in INPUT}
    return pa.table(cols, schema=INPUT)


@settings(max_examples=200, deadline=None)
@given(st.lists(_row, max_size=12), st.integers(0, 5))
def test_content_hashes_equal_the_row_by_row_definition(
    rows: list[dict[str, object]], cut: int
) -> None:
    table = _table(rows)
    got = inc.content_hashes(table, KEY)
    assert got == _content_hashes_reference(table, KEY)
    assert all(len(h) == 16 for h in got)
    # a sliced (offset) table hashes as its rows do
    part = table.slice(min(cut, table.num_rows))
    assert inc.content_hashes(part, KEY) == got[min(cut, table.num_rows) :]


def test_content_hashes_tell_fields_apart() -> None:
    base = {"content_id": "c", "author_id": "a", "text": "hello", "kind": "post",
            "language": "en", "created_at": datetime(2026, 1, 1, tzinfo=UTC)}  # fmt: skip
    table = _table(
        [
            base,
            {**base, "text": "hello!"},
            {**base, "language": None},
            {**base, "text": None},
            {**base, "text": ""},
            {**base, "created_at": datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)},
            {**base, "content_id": "d"},  # the same content under another id
        ]
    )
    h = inc.content_hashes(table, KEY)
    assert len(set(h[:4])) == 4 and h[3] == h[4] and h[5] != h[0] and h[6] != h[0]


def _rows(n: int, start: int, bands: int = 2) -> pa.Table:
    schema = inc.rows_schema(bands)
    cols = {}
    for f in schema:
        if f.name == "record_id":
            cols[f.name] = pa.array([f"r{start + i}" for i in range(n)], f.type)
        elif pa.types.is_fixed_size_binary(f.type):
            cols[f.name] = pa.array(
                [bytes([i % 256]) * f.type.byte_width for i in range(n)], f.type
            )
        else:
            cols[f.name] = pa.array([None] * n, f.type)
    return pa.table(cols, schema=schema)


def test_rows_streamed_shard_by_shard_read_back_as_one_table(tmp_path) -> None:
    parts = [_rows(3, 0), _rows(0, 3), _rows(5, 3)]
    inc.write_rows(tmp_path, iter(parts), {"key_of": "s"}, inc.rows_schema(2))
    got = inc.read_rows(tmp_path)
    assert got is not None
    table, meta = got
    assert meta["rows"] == 8 and meta["key_of"] == "s"
    assert table.equals(pa.concat_tables(parts))


def test_no_rows_write_an_empty_file_of_the_schema(tmp_path) -> None:
    inc.write_rows(tmp_path, iter([]), {"key_of": "s"}, inc.rows_schema(2))
    got = inc.read_rows(tmp_path)
    assert got is not None and got[0].num_rows == 0 and got[0].schema == inc.rows_schema(2)


def test_a_failure_while_streaming_leaves_no_rows_file(tmp_path) -> None:
    def parts():
        yield _rows(3, 0)
        raise OSError("disk went away")

    with pytest.raises(OSError, match="disk went away"):
        inc.write_rows(tmp_path, parts(), {"key_of": "s"}, inc.rows_schema(2))
    assert inc.read_rows(tmp_path) is None
    assert not any((tmp_path / inc.ROWS_DIR).iterdir())  # no temp file left behind
