"""The driver's fast paths (raw SQLite reads, consent counts per author) give exactly
what the ORM paths and the row-wise consent gate give."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from optin.errors import IntegrityError
from optin.pipeline.plan import Plan, consent_counts, write_input_shards
from optin.pipeline.schema import INPUT
from optin.pipeline.steps.consent import consent_gate
from optin.settings import Settings
from optin.storage import snapshots as repo
from optin.storage.database import Database
from tests.pipeline.helpers import (  # noqa: F401  (fixtures)
    AS_OF,
    DEMO_NOW,
    demo_fixture,
    demo_home_fixture,
)

SELECTIONS = [
    (["article", "comment", "post"], ["connections", "public"], AS_OF),
    (["post"], ["public"], datetime(2024, 7, 1, 12, 30, tzinfo=UTC)),
    ([], ["public"], DEMO_NOW),
]


def _both(monkeypatch: pytest.MonkeyPatch, fn: object) -> tuple[object, object]:
    """``fn()`` on the SQLite fast path and on the ORM path."""
    fast = fn()  # type: ignore[operator]
    with monkeypatch.context() as m:
        m.setattr(repo, "_sqlite", lambda session: False)
        orm = fn()  # type: ignore[operator]
    return fast, orm


@pytest.mark.parametrize(("kinds", "vis", "as_of"), SELECTIONS)
def test_sqlite_fast_paths_equal_orm_paths(
    demo: tuple[Database, Settings],
    monkeypatch: pytest.MonkeyPatch,
    kinds: list[str],
    vis: list[str],
    as_of: datetime,
) -> None:
    db, _ = demo
    with db.session() as s:
        for name in ("selection_counts", "selection_fingerprint", "selected_author_counts"):
            fast, orm = _both(monkeypatch, lambda n=name: getattr(repo, n)(s, kinds, vis, as_of))
            assert fast == orm, name
        counts = repo.selected_author_counts(s, kinds, vis, as_of)
        authors = sorted(counts)[::3]
        for who in (None, authors, []):
            fast, orm = _both(
                monkeypatch,
                lambda w=who: pa.concat_tables(
                    [
                        pa.table([[]] * 6, schema=repo.CONTENT_SCHEMA),
                        *repo.iter_selected(s, kinds, vis, as_of, authors=w, batch_size=37),
                    ]
                ),
            )
            assert fast.equals(orm)  # type: ignore[attr-defined]
            expected = sum(counts.values()) if who is None else sum(counts[a] for a in who)
            assert fast.num_rows == expected  # type: ignore[attr-defined]
        fast, orm = _both(monkeypatch, lambda: list(repo.iter_directory_rows(s, chunk=50)))
        assert fast == orm and len(fast) > 0  # type: ignore[arg-type]


def test_fast_read_keeps_microseconds_and_utc(demo: tuple[Database, Settings]) -> None:
    db, _ = demo
    with db.session() as s:
        table = next(repo.iter_selected(s, ["post"], ["public"], DEMO_NOW, batch_size=5))
    assert table.schema.equals(INPUT)
    for value in table["created_at"].to_pylist():
        assert value.tzinfo is not None and value.utcoffset().total_seconds() == 0


authors_st = st.lists(st.sampled_from("abcdefg"), max_size=60)


@given(
    rows=authors_st,
    eligible=st.sets(st.sampled_from("abcdefg")),
    reasons=st.dictionaries(st.sampled_from("abcdefg"), st.sampled_from(["NO_CONSENT", "MINOR"])),
)
def test_consent_counts_equal_the_gate_on_the_rows(
    rows: list[str], eligible: set[str], reasons: dict[str, str]
) -> None:
    table = pa.table({"author_id": pa.array(rows, pa.string())})
    kept, dropped = consent_gate(table, pa.array(sorted(eligible), pa.string()), reasons)
    selected, counted = consent_counts(Counter(rows), eligible, reasons)
    assert selected == len(rows)
    assert counted == dropped
    assert selected - sum(counted.values()) == kept.num_rows


def _rows(authors: list[str]) -> pa.Table:
    n = len(authors)
    return pa.table(
        {
            "content_id": [f"c{i:03d}" for i in range(n)],
            "author_id": authors,
            "text": ["some text here"] * n,
            "kind": ["post"] * n,
            "language": ["en"] * n,
            "created_at": [datetime(2025, 1, 1, tzinfo=UTC)] * n,
        },
        schema=INPUT,
    )


def test_pre_gated_shards_equal_gated_shards_and_counts(tmp_path: Path) -> None:
    authors = ["a", "b", "a", "c", "a", "b", "a"]
    reasons = {"b": "WITHDRAWN"}
    plans = []
    for label, batches, counts in (
        ("gated", [_rows(authors)], None),
        ("pre", [_rows(authors).filter(pa.array([a == "a" for a in authors]))], Counter(authors)),
    ):
        plan = Plan()
        out = list(
            write_input_shards(
                batches,
                eligible={"a"},
                reasons=reasons,
                shard_size=3,
                work=tmp_path / label,
                plan=plan,
                author_counts=counts,
            )
        )
        plans.append((plan, [(i, n) for i, n, _ in out]))
    (gated, shards_g), (pre, shards_p) = plans
    assert shards_g == shards_p == [(0, 3), (1, 1)]
    assert gated.consent_dropped == pre.consent_dropped == {"WITHDRAWN": 2, "NOT_A_MEMBER": 1}
    assert gated.selected == pre.selected == len(authors)


def test_pre_gated_batch_with_an_ineligible_row_is_refused(tmp_path: Path) -> None:
    shards = write_input_shards(
        [_rows(["a", "b"])],
        eligible={"a"},
        reasons={},
        shard_size=10,
        work=tmp_path,
        plan=Plan(),
        author_counts={"a": 1, "b": 1},
    )
    with pytest.raises(IntegrityError, match="ineligible authors"):
        list(shards)
