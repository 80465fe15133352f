"""The rows file's keyed content hash: the Arrow-joined form hashes the same bytes as
the row-by-row definition (so parents built before it still match), nulls included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
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
    assert got == inc._content_hashes_reference(table, KEY)
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
        ]
    )
    h = inc.content_hashes(table, KEY)
    assert len(set(h[:4])) == 4 and h[3] == h[4] and h[5] != h[0]
