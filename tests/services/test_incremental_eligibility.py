"""``snapshot build --since`` decides eligibility again only for the members whose
decision can differ from the parent's; the result equals a full build's at the same
as-of time (records, texts, step table, members by reason) whatever changed: a member's
status, country or birth date, a birthday, a withdrawal written late, a policy change
(which decides every member again), a parent without an eligibility file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from optin.domain.eligibility import age_on
from optin.domain.model import Regime
from optin.errors import ConflictError
from optin.services.consent import record_consent
from optin.services.incremental import _fixed, _KeyIndex
from optin.services.incremental_eligibility import _birthdays_between
from optin.services.members import update_member
from optin.services.policy import policy_set, publish_policy
from optin.services.snapshots import BuildResult
from optin.services.verify import verify_snapshot
from optin.settings import Settings
from optin.storage import history
from optin.storage.database import Database
from optin.storage.models import PolicyVersionRow
from tests.factories import add_content, add_member
from tests.pipeline.helpers import AS_OF, DEMO_NOW, PURPOSE, copy_home, make_demo_home
from tests.services.test_incremental import AS_OF2, NOW2, T1, _build, _contents, _prov


@pytest.fixture(scope="module", name="home")
def home_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield make_demo_home(tmp_path_factory.mktemp("incr-elig") / "home", members=150, posts=1500)


def _eligibility_block(r: BuildResult) -> dict[str, Any]:
    return {k: v for k, v in r.manifest["eligibility"].items() if k != "decided"}


def _child_and_full(
    tmp: Path, db: Database, st_: Settings, parent: BuildResult, **times: Any
) -> tuple[BuildResult, BuildResult]:
    """The incremental child of ``parent`` and a full build on a copy, both at
    ``times`` (default AS_OF2/NOW2); asserts they are equal."""
    as_of, now = times.get("as_of", AS_OF2), times.get("now", NOW2)
    db.dispose()
    db_full, st_full = copy_home(tmp / "a", tmp / "b")
    db = Database.open(st_)
    child = _build(db, st_, as_of=as_of, now=now, since=parent.snapshot_id)
    full = _build(db_full, st_full, as_of=as_of, now=now)
    assert _contents(db, child) == _contents(db_full, full)
    assert child.manifest["counts"]["steps"] == full.manifest["counts"]["steps"]
    assert _eligibility_block(child) == _eligibility_block(full)
    rep = verify_snapshot(db, st_, child.snapshot_id, now=now)  # independent of the file
    assert rep.status == "pass", rep.to_dict()
    db.dispose()
    db_full.dispose()
    return child, full


def test_member_changes_after_the_parent_are_decided_again(home: Path, tmp_path: Path) -> None:
    db, st_ = copy_home(home, tmp_path / "a")
    parent = _build(db, st_, as_of=AS_OF, now=DEMO_NOW)
    authors = sorted({p.author_id for p in _prov(db, parent.snapshot_id)})
    pol = policy_set(db).in_force(AS_OF)
    assert pol is not None
    excluded = sorted(c for c, r in pol.jurisdictions.regimes.items() if r is Regime.EXCLUDED)
    at = T1 - timedelta(hours=5)
    suspended, moved, minor, withdrawn = authors[:4]
    update_member(db, suspended, status="suspended", now=at, source="web")
    update_member(db, moved, country=excluded[0], now=at, source="web")
    update_member(db, minor, birth_date=date(2015, 1, 1), now=at, source="web")
    record_consent(db, withdrawn, PURPOSE, "withdraw", source="web", at=at, now=at)
    child, _ = _child_and_full(tmp_path, db, st_, parent)
    decided = child.manifest["eligibility"]["decided"]
    assert decided["decided_all_because"] is None
    assert 4 <= decided["decided"] < decided["members"] / 2
    db = Database.open(st_)
    left = {p.author_id for p in _prov(db, parent.snapshot_id)} - {
        p.author_id for p in _prov(db, child.snapshot_id)
    }
    assert {suspended, moved, minor, withdrawn} <= left
    db.dispose()


def test_a_withdrawal_written_late_with_an_earlier_time_is_seen(home: Path, tmp_path: Path) -> None:
    """A writer whose clock is behind: the event is appended after the parent was built
    but says it was recorded before the parent's as-of time. The ledger sequence, not
    the time, tells the child to decide that member again."""
    db, st_ = copy_home(home, tmp_path / "a")
    parent = _build(db, st_, as_of=AS_OF, now=DEMO_NOW)
    author = sorted({p.author_id for p in _prov(db, parent.snapshot_id)})[0]
    early = AS_OF - timedelta(hours=1)
    record_consent(db, author, PURPOSE, "withdraw", source="web", at=early, now=early)
    child, _ = _child_and_full(tmp_path, db, st_, parent)
    db = Database.open(st_)
    assert author not in {p.author_id for p in _prov(db, child.snapshot_id)}
    db.dispose()


def test_a_birthday_between_the_builds_is_decided_again(home: Path, tmp_path: Path) -> None:
    """No event at all: a member comes of age between the parent's as-of time and the
    child's, so the reason at the as-of time changes (MINOR -> another)."""
    db, st_ = copy_home(home, tmp_path / "a")
    pol = policy_set(db).in_force(AS_OF)
    assert pol is not None
    age = pol.jurisdictions.min_age("US")
    birthday = AS_OF.date() + timedelta(days=10)
    born = birthday.replace(year=birthday.year - age)
    mid = add_member(db, "coming-of-age", country="US", birth_date=born,
                     joined_at=AS_OF - timedelta(days=400))  # fmt: skip
    add_content(db, mid, "coa-1", "A first post about learning the guitar and the piano",
                created_at=AS_OF - timedelta(days=30))  # fmt: skip
    parent = _build(db, st_, as_of=AS_OF, now=DEMO_NOW)
    assert parent.manifest["eligibility"]["members_by_reason_at_as_of"]["MINOR"] >= 1
    assert (born.month, born.day) in _birthdays_between([(AS_OF.date(), AS_OF2.date())])
    child, full = _child_and_full(tmp_path, db, st_, parent)
    minors = full.manifest["eligibility"]["members_by_reason_at_as_of"].get("MINOR", 0)
    assert minors == parent.manifest["eligibility"]["members_by_reason_at_as_of"]["MINOR"] - 1
    assert child.manifest["eligibility"]["decided"]["decided_all_because"] is None


def test_a_policy_version_in_force_since_the_parent_decides_every_member(
    home: Path, tmp_path: Path
) -> None:
    db, st_ = copy_home(home, tmp_path / "a")
    parent = _build(db, st_, as_of=AS_OF, now=DEMO_NOW)
    with db.session() as s:
        doc = s.scalars(select(PolicyVersionRow.document).order_by(PolicyVersionRow.version)).all()
    at = T1 - timedelta(hours=5)
    publish_policy(db, doc[-1].replace('summary = "', 'summary = "Revised wording. ', 1), now=at)
    child, _ = _child_and_full(tmp_path, db, st_, parent)
    decided = child.manifest["eligibility"]["decided"]
    assert decided["decided"] == decided["members"] and decided["from_parent"] == 0
    assert "policy" in decided["decided_all_because"]


def test_a_parent_without_an_eligibility_file_decides_every_member(
    home: Path, tmp_path: Path
) -> None:
    db, st_ = copy_home(home, tmp_path / "a")
    parent = _build(db, st_, as_of=AS_OF, now=DEMO_NOW)
    (parent.path / "_incremental" / "eligibility.parquet").unlink()
    at = T1 - timedelta(hours=5)
    author = sorted({p.author_id for p in _prov(db, parent.snapshot_id)})[0]
    record_consent(db, author, PURPOSE, "withdraw", source="web", at=at, now=at)
    child, _ = _child_and_full(tmp_path, db, st_, parent)
    decided = child.manifest["eligibility"]["decided"]
    assert decided["decided"] == decided["members"]
    assert decided["decided_all_because"] == "the parent keeps no eligibility file"


def test_eligibility_file_names_no_member(home: Path, tmp_path: Path) -> None:
    db, st_ = copy_home(home, tmp_path / "a")
    parent = _build(db, st_, as_of=AS_OF, now=DEMO_NOW)
    path = parent.path / "_incremental" / "eligibility.parquet"
    table = pq.read_table(path)
    members = parent.manifest["eligibility"]["members_by_reason_at_as_of"]
    assert table.num_rows == sum(members.values())
    blob = path.read_bytes() + str(table.to_pylist()).encode()
    for p in _prov(db, parent.snapshot_id)[:50]:
        assert p.author_id.encode() not in blob
    assert (
        sum(1 for r in table["reason"].to_pylist() if r == "")
        == (parent.manifest["eligibility"]["eligible_authors"])
    )
    db.dispose()


def test_a_parent_whose_rows_hash_other_fields_is_refused(home: Path, tmp_path: Path) -> None:
    db, st_ = copy_home(home, tmp_path / "a")
    parent = _build(db, st_, as_of=AS_OF, now=DEMO_NOW)
    meta_path = parent.path / "_incremental" / "meta.json"
    meta = json.loads(meta_path.read_text())
    del meta["content_hash"]  # as an earlier release wrote it
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ConflictError, match="build a full snapshot first"):
        _build(db, st_, as_of=AS_OF2, now=NOW2, since=parent.snapshot_id)
    db.dispose()


_hash16 = st.binary(min_size=16, max_size=16) | st.sampled_from(
    [b"\0" * 16, b"a" + b"\0" * 15, b"\0" * 15 + b"a", b"\xff" * 16]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_hash16, unique=True, max_size=40), st.lists(_hash16, max_size=40), st.booleans())
def test_hash_index_finds_exactly_the_parent_rows(
    parent: list[bytes], queries: list[bytes], offset: bool
) -> None:
    """The sorted-array lookup of unchanged rows equals a dict lookup (hashes ending in
    zero bytes, sliced columns included)."""
    arr = pa.array([b"\x07" * 16, *parent], pa.binary(16))
    col = pa.chunked_array([arr.slice(1) if offset else pa.array(parent, pa.binary(16))])
    where = {h: i for i, h in enumerate(parent)}
    asked = queries + parent[:5]
    assert _KeyIndex(col, "s", "content hash")(asked).tolist() == [where.get(h, -1) for h in asked]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.text("0123456789abcdef", min_size=32, max_size=32), unique=True, max_size=40),
    st.lists(st.text("0123456789abcdef", min_size=32, max_size=32), max_size=40),
)
def test_record_id_index_finds_exactly_the_parent_rows(
    parent: list[str], queries: list[str]
) -> None:
    """The parent rows by record id (32 hex characters) equal a dict lookup."""
    col = _fixed(pa.chunked_array([pa.array(parent, pa.string())]), 32, "s", "record id")
    where = {r: i for i, r in enumerate(parent)}
    asked = queries + parent[:5]
    assert _KeyIndex(col, "s", "record id")(asked).tolist() == [where.get(r, -1) for r in asked]


@settings(max_examples=200, deadline=None)
@given(
    birth=st.dates(date(1900, 1, 1), date(2020, 12, 31)),
    a=st.dates(date(2020, 1, 1), date(2030, 12, 31)),
    days=st.integers(0, 800),
)
def test_birthdays_between_are_the_days_a_members_age_changes_on(
    birth: date, a: date, days: int
) -> None:
    """A member's age differs between two dates (the domain's own ``age_on``) exactly
    when their (month, day) is among the birthdays worked out once per day of the year."""
    b = a + timedelta(days=days)
    changes = age_on(birth, a) != age_on(birth, b)
    assert ((birth.month, birth.day) in _birthdays_between([(a, b)])) == changes


def test_members_born_on_selects_by_month_and_day_on_both_backends(db: Database) -> None:
    add_member(db, "m-leap", birth_date=date(1992, 2, 29))
    add_member(db, "m-march", birth_date=date(1990, 3, 1))
    add_member(db, "m-unknown", birth_date=None)
    with db.session() as s:
        assert set(history.member_ids(s)) == {"m-leap", "m-march", "m-unknown"}
        assert history.members_born_on(s, [(2, 29)]) == {"m-leap"}
        assert history.members_born_on(s, [(3, 1), (2, 29), (12, 31)]) == {"m-leap", "m-march"}
        assert history.members_born_on(s, []) == set()
    # 28 Feb -> 1 Mar of a common year passes both birthdays
    assert {(2, 29), (3, 1)} <= set(_birthdays_between([(date(2026, 2, 28), date(2026, 3, 1))]))
