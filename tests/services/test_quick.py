"""The read-only SQLite fast path (``optin.services.quick``) answers exactly as the full
path: the same member ids, states and decisions on random histories, the same CLI
output (plain and ``--json``, errors and exit codes), and it steps aside (None) wherever
it cannot answer exactly, leaving the full path to explain."""

from __future__ import annotations

import os
import random
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optin.errors import NotFoundError
from optin.services import erasure, quick
from optin.services.consent import consent_state, resolve_member
from optin.services.eligibility import decide_member
from optin.settings import Settings
from optin.storage.database import Database
from optin.storage.light import head_from_files
from tests.factories import add_member
from tests.services.test_eligibility import P, Q, _random_world

UNKNOWN = "m-nobody"


class Home:
    """``quick``'s view of the settings: a home whose ``optin.db`` is the database."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.database_url: str | None = None


def _error(fn: object, *args: object) -> tuple[str, str] | object:
    try:
        return fn(*args)  # type: ignore[operator]
    except NotFoundError as e:
        return ("NotFoundError", str(e))


def _full_state(db: Database, ref: str, at: datetime) -> object:
    def run() -> object:
        member = resolve_member(db, ref)
        return member, consent_state(db, member, at)

    return _error(run)


def _full_decision(db: Database, ref: str, purpose: str, at: datetime) -> object:
    def run() -> object:
        member = resolve_member(db, ref)
        return member, decide_member(db, member, purpose, at)

    return _error(run)


@pytest.fixture()
def world(sqlite_db: Database) -> tuple[Database, list[str], list[datetime]]:
    """A random world (members, country/status/birth-date changes recorded late, grants
    and withdrawals, a material policy change) plus an erased member."""
    rng = random.Random(7)
    ids, probes = _random_world(sqlite_db, rng, 25)
    add_member(sqlite_db, "m-erased", handle="Gone")
    when = probes[-1] - timedelta(days=1)
    home = sqlite_db.home
    assert home is not None
    erasure.erase_member(sqlite_db, Settings(home=home), "m-erased", now=when, actor="admin")
    return sqlite_db, [*ids, "m-erased"], probes


def test_fast_path_equals_full_path_on_random_histories(
    world: tuple[Database, list[str], list[datetime]],
) -> None:
    db, ids, probes = world
    assert db.home is not None
    home = Home(db.home)
    with db.session() as s:
        from optin.storage.models import MemberRow

        handles = [h for (h,) in s.query(MemberRow.handle).limit(6)]
    refs = [*ids, *handles, *(f"@{h.upper()}" for h in handles), UNKNOWN, "@nobody", ""]
    for at in probes:
        for ref in refs:
            got = _error(quick.consent_state, home, ref, at)
            assert got is not None, ("fell back", ref, at)
            assert got == _full_state(db, ref, at), (ref, at)
            for purpose in (P, Q, "no_such_purpose"):
                got = _error(quick.decide_member, home, ref, purpose, at)
                assert got is not None, ("fell back", ref, purpose, at)
                assert got == _full_decision(db, ref, purpose, at), (ref, purpose, at)


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from optin.cli.main import run

    capsys.readouterr()
    code = run(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture()
def cli_world(
    world: tuple[Database, list[str], list[datetime]], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[list[str], list[datetime]]]:
    db, ids, probes = world
    assert db.home is not None
    for key in [k for k in os.environ if k.upper().startswith("OPTIN_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("OPTIN_HOME", str(db.home))
    monkeypatch.delenv("COLUMNS", raising=False)
    yield ids, probes


def test_cli_output_is_the_full_paths(
    cli_world: tuple[list[str], list[datetime]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """For random members (ids, handles, unknown ones), purposes (known, unknown) and
    times, ``optin consent show`` and ``optin eligibility``, plain and ``--json``, print
    the same bytes and exit with the same code on the fast path as on the full path."""
    ids, probes = cli_world
    times = st.one_of(
        st.sampled_from(probes),
        st.datetimes(
            min_value=datetime(2023, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)
        ),
    )
    refs = st.one_of(
        st.sampled_from(ids),
        st.sampled_from(ids).map(lambda m: "@h-" + m),
        st.sampled_from([UNKNOWN, "@nobody"]),
    )
    taken: list[str] = []
    answered: list[bool] = []
    fast_state, fast_decide = quick.consent_state, quick.decide_member

    def spy(fn: object) -> object:
        def wrapped(*args: object) -> object:
            try:
                result = fn(*args)  # type: ignore[operator]
            except NotFoundError:
                answered.append(True)
                raise
            answered.append(result is not None)
            return result

        return wrapped

    def full_only(*_args: object) -> None:
        return None

    @settings(
        max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(
        refs,
        st.sampled_from([P, Q, "nope"]),
        times,
        st.booleans(),
        st.sampled_from(["consent", "eligibility"]),
    )
    def same(ref: str, purpose: str, at: datetime, as_json: bool, cmd: str) -> None:
        argv = ["consent", "show", ref] if cmd == "consent" else ["eligibility", ref]
        if cmd == "eligibility":
            argv += ["--purpose", purpose]
        argv += ["--at", at.isoformat()] + (["--json"] if as_json else [])
        monkeypatch.setattr(quick, "consent_state", spy(fast_state))
        monkeypatch.setattr(quick, "decide_member", spy(fast_decide))
        answered.clear()
        fast = _cli(argv, capsys)
        assert answered == [True], argv  # the fast path answered (or refused the member)
        monkeypatch.setattr(quick, "consent_state", full_only)
        monkeypatch.setattr(quick, "decide_member", full_only)
        full = _cli(argv, capsys)
        assert fast == full, argv
        taken.append(f"{cmd}:{fast[0]}")

    same()
    assert {"consent:0", "consent:66", "eligibility:0", "eligibility:66"} <= set(taken)


def test_when_the_fast_path_cannot_answer_exactly_then_it_steps_aside(
    sqlite_db: Database, tmp_path: Path
) -> None:
    assert sqlite_db.home is not None
    add_member(sqlite_db, "m1")
    at = datetime(2025, 1, 1, tzinfo=UTC)
    home = Home(sqlite_db.home)
    assert quick.consent_state(home, "m1", at) is not None
    # a configured database URL (PostgreSQL, or any other): the full path opens it
    url = Home(sqlite_db.home)
    url.database_url = sqlite_db.url
    assert quick.consent_state(url, "m1", at) is None
    assert quick.decide_member(url, "m1", P, at) is None
    # no database file: none is created
    missing = Home(tmp_path / "nowhere")
    assert quick.consent_state(missing, "m1", at) is None
    assert not (tmp_path / "nowhere").exists()
    # a home whose path SQLAlchemy's URL would read otherwise
    assert quick.sqlite_file(Home(tmp_path / "a%20b")) is None
    assert quick.sqlite_file(Home(tmp_path / "a?b")) is None
    path = sqlite_db.home / "optin.db"
    with closing(sqlite3.connect(path)) as conn:
        # a value not in the form the ORM writes: the full path reads (or refuses) it
        conn.execute("UPDATE member_countries SET since = '2024-02-01T00:00:00Z'")
        conn.commit()
        assert quick.consent_state(home, "m1", at) is None
        assert quick.decide_member(home, "m1", P, at) is None
        conn.execute("UPDATE member_countries SET since = '2024-02-01 00:00:00.000000'")
        conn.commit()
        assert quick.decide_member(home, "m1", P, at) is not None
        # a schema that is not at the head migration: the full path says to upgrade
        head = head_from_files()
        conn.execute("UPDATE alembic_version SET version_num = '0013'")
        conn.commit()
        assert quick.consent_state(home, "m1", at) is None
        conn.execute("UPDATE alembic_version SET version_num = ?", (head,))
        conn.commit()
        # a table it reads is not as expected
        conn.execute("ALTER TABLE member_statuses RENAME TO member_statuses_old")
        conn.commit()
        assert quick.consent_state(home, "m1", at) is None
