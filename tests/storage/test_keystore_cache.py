"""Issue 13 (append rate): the member key store caches unwrapped keys in a bounded LRU,
and a destroyed key is never served from the cache, whoever destroyed it."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from optin.storage.database import Database
from optin.storage.keystore import FileKeyStore

NOW = datetime(2025, 1, 1, tzinfo=UTC)
MASTER = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA="  # base64 of 32 bytes


def _store(tmp_path: Path, **kw: object) -> FileKeyStore:
    return FileKeyStore(tmp_path / "keys", MASTER, **kw)  # type: ignore[arg-type]


def _count_reads(store: FileKeyStore, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    real = store._read_signed

    def spy(path: Path | str) -> tuple[dict[str, object] | None, tuple[int, ...] | None]:
        seen.append(str(path))
        return real(path)

    monkeypatch.setattr(store, "_read_signed", spy)
    return seen


def test_a_cached_key_is_served_without_reading_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store(tmp_path)
    key = store.create("m1", NOW)
    reads = _count_reads(store, monkeypatch)
    assert store.get(["m1", "m1"]) == {"m1": key}
    assert store.get(["m1"]) == {"m1": key}
    assert reads == []


def test_destroy_in_this_process_evicts_at_once(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.create("m1", NOW)
    assert store.get(["m1"])["m1"] is not None
    assert store.destroy("m1", NOW)
    assert store.get(["m1"]) == {"m1": None}
    assert store.create("m1", NOW) is None  # never created again


def test_destroy_by_another_store_is_seen_by_a_warm_cache(tmp_path: Path) -> None:
    warm = _store(tmp_path)
    key = warm.create("m1", NOW)
    assert warm.get(["m1"]) == {"m1": key}
    assert warm.cached_members() == 1
    assert _store(tmp_path).destroy("m1", NOW)
    assert warm.get(["m1"]) == {"m1": None}


@pytest.mark.slow
def test_destroy_by_another_process_is_seen_by_a_warm_cache(tmp_path: Path) -> None:
    warm = _store(tmp_path)
    warm.create("m1", NOW)
    warm.create("m2", NOW)
    assert None not in warm.get(["m1", "m2"]).values()
    code = (
        "import sys; from datetime import UTC, datetime; from pathlib import Path;"
        "from optin.storage.keystore import FileKeyStore;"
        "s = FileKeyStore(Path(sys.argv[1]), sys.argv[2]);"
        "assert s.destroy('m1', datetime(2025, 2, 1, tzinfo=UTC))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "keys"), MASTER], check=True, env=env
    )
    got = warm.get(["m1", "m2"])
    assert got["m1"] is None
    assert got["m2"] is not None


def test_the_cache_is_bounded_and_evicts_the_least_recently_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store(tmp_path, cache_size=3)
    for i in range(5):
        store.create(f"m{i}", NOW)
    assert store.cached_members() == 3  # m2, m3, m4
    store.get(["m2"])  # m2 is now the most recent: m3 goes next
    store.create("m5", NOW)
    reads = _count_reads(store, monkeypatch)
    store.get(["m2", "m4", "m5"])
    assert reads == []
    store.get(["m3"])
    assert len(reads) == 1


def test_no_cache_when_size_is_zero(tmp_path: Path) -> None:
    store = _store(tmp_path, cache_size=0)
    key = store.create("m1", NOW)
    assert store.get(["m1"]) == {"m1": key}
    assert store.cached_members() == 0


def test_rewrap_clears_the_cache_and_keys_stay_the_same(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path / "keys")
    key = store.create("m1", NOW)
    assert store.cached_members() == 1
    assert store.rewrap(os.urandom(32)) == 1
    assert store.cached_members() == 0
    assert store.get(["m1"]) == {"m1": key}


@settings(max_examples=40, deadline=None)
@given(
    ops=st.lists(
        st.tuples(
            st.sampled_from(["create", "get", "destroy"]),
            st.sampled_from(["a", "b"]),  # which store acts: the cached one or another
            st.sampled_from(["m0", "m1", "m2", "m3"]),
        ),
        max_size=30,
    )
)
def test_a_cached_store_answers_as_an_uncached_one(
    tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[str, str, str]]
) -> None:
    home = tmp_path_factory.mktemp("ks")
    cached = _store(home, cache_size=2)
    other = _store(home, cache_size=0)
    for op, who, m in ops:
        store = cached if who == "a" else other
        if op == "create":
            store.create(m, NOW)
        elif op == "destroy":
            store.destroy(m, NOW)
        else:
            store.get([m])
        ids = ["m0", "m1", "m2", "m3"]
        assert cached.get(ids) == _store(home, cache_size=0).get(ids)


def test_an_erased_members_fields_and_log_salts_stay_unreadable_for_a_warm_server(
    db: Database,
) -> None:
    """A running server (warm key cache) and an erasure by another process (here: another
    key store over the same directory): the server reads nothing of the member again."""
    from optin.storage import ledger
    from optin.storage import tlog as store
    from optin.storage.keys import KeyRing
    from optin.storage.keystore import keystore_of

    drafts = [
        ledger.EventDraft(
            member_id="m1",
            purpose="train_own_models",
            action="grant",
            at=NOW,
            policy_version=1,
            source="web",
            personal={"ip": "192.0.2.1"},
        )
    ]
    with db.session() as s:
        ledger.append_many(s, drafts, now=NOW)
        store.integrate(s, now=NOW)
    event_id = drafts[0].event_id
    with db.session() as s:
        row = s.execute(text("SELECT * FROM consent_events")).one()
        assert ledger.personal_fields(s, row) == {"ip": "192.0.2.1"}
        got = store.leaf_salt(s, event_id)
        assert got is not None and got[0] is not None
        ks = keystore_of(s)
    assert isinstance(ks, FileKeyStore) and ks.cached_members() >= 1
    assert FileKeyStore(ks.directory, ks.master_key).destroy("m1", NOW)  # elsewhere
    with db.session() as s:
        row = s.execute(text("SELECT * FROM consent_events")).one()
        assert ledger.personal_fields(s, row) is None
        got = store.leaf_salt(s, event_id)
        assert got is not None and got[0] is None
        assert KeyRing(s).key_for_read("m1") is None
