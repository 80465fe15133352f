"""The demo platform: determinism, invariants, and exact ground truth.

The generator runs once per backend (module-scoped work is not possible with the
function-scoped ``db`` fixture, so each test that needs a demo builds a small one).
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from optin.demo import pii
from optin.demo.countries import COUNTRIES
from optin.domain.eligibility import age_on
from optin.domain.policy import default_policy_text, parse_policy
from optin.errors import ConflictError, InputError
from optin.services.demo import generate_demo
from optin.services.eligibility import decide_all
from optin.services.web_auth import verify_password
from optin.storage import ledger
from optin.storage.database import Database
from optin.storage.models import ConsentEventRow, ContentRow, MemberCountryRow, MemberRow

NOW = datetime(2026, 6, 1, tzinfo=UTC)
SMALL = {"members": 300, "posts": 1500}


def fresh_sqlite(tmp_path: Path, name: str) -> Database:
    home = tmp_path / name
    return Database(f"sqlite:///{home / 'optin.db'}", home=home)


def content_digest(db: Database) -> list[tuple[str, str, str, str]]:
    with db.session() as s:
        return [
            tuple(r)
            for r in s.execute(  # type: ignore[misc]
                select(
                    ContentRow.id, ContentRow.author_id, ContentRow.text, ContentRow.visibility
                ).order_by(ContentRow.id)
            ).all()
        ]


# -- determinism ----------------------------------------------------------------------


def test_when_the_seed_and_now_are_fixed_then_any_backend_gives_the_same_network(db, tmp_path):
    a = generate_demo(
        db, **SMALL, seed=11, now=NOW, ground_truth=tmp_path / "a.jsonl", accounts=False
    )
    ref = fresh_sqlite(tmp_path, "ref")
    try:
        b = generate_demo(ref, **SMALL, seed=11, now=NOW, accounts=False)
        assert a.ledger_head == b.ledger_head and a.ledger_events == b.ledger_events
        assert a.pii_by_label == b.pii_by_label and a.content_by_kind == b.content_by_kind
        assert a.eligible == b.eligible and a.reasons == b.reasons
        assert db.table_counts() == ref.table_counts()
        assert content_digest(db) == content_digest(ref)
        assert (tmp_path / "a.jsonl").read_bytes() == (
            ref.home / "demo" / "ground_truth.jsonl"
        ).read_bytes()  # type: ignore[operator]
    finally:
        ref.dispose()
    other = fresh_sqlite(tmp_path, "other")
    try:
        c = generate_demo(other, **SMALL, seed=12, now=NOW, accounts=False)
        assert c.ledger_head != a.ledger_head
    finally:
        other.dispose()


# -- invariants -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    """One demo for the read-only invariant tests (SQLite; the determinism test above
    shows PostgreSQL holds the identical network)."""
    db = fresh_sqlite(tmp_path_factory.mktemp("demo"), "home")
    summary = generate_demo(db, members=400, posts=3000, seed=3, now=NOW)
    yield db, summary
    db.dispose()


def test_when_the_demo_is_built_then_minors_exist_and_are_never_eligible(demo):
    db, summary = demo
    with db.session() as s:
        births = dict(s.execute(select(MemberRow.id, MemberRow.birth_date)).all())
    minors = {m for m, b in births.items() if b is not None and age_on(b, NOW.date()) < 18}
    assert minors and summary.minors == len(minors)
    for purpose in ("train_own_models", "share_with_providers"):
        decisions = {d.member_id: d for d in decide_all(db, purpose, NOW)}
        assert not [m for m in minors if decisions[m].eligible]
        assert summary.eligible[purpose] == sum(d.eligible for d in decisions.values()) > 0


def test_when_the_demo_is_built_then_excluded_countries_are_present_and_excluded(demo):
    db, summary = demo
    rules = parse_policy(default_policy_text(), version=1, effective_at=NOW).jurisdictions
    assert len(COUNTRIES) >= 40 and summary.countries >= 30
    assert summary.members_by_regime["excluded"] > 0 and summary.members_by_regime["opt_in"] > 0
    with db.session() as s:
        countries = {c for (c,) in s.execute(select(MemberCountryRow.country).distinct())}
    assert {"GB", "CH", "DE", "NO"} & countries
    for d in decide_all(db, "train_own_models", NOW):
        if d.country and rules.regime(d.country).value == "excluded":
            assert not d.eligible
    # most members never consent (opt-in), a sizeable minority does
    rate = summary.consent_by_regime["opt_in"]["train_own_models"]["rate"]
    assert 0.2 < rate < 0.6
    assert summary.consent_by_regime["opt_in"]["share_with_providers"]["rate"] < rate


def test_when_the_demo_is_built_then_the_ledger_verifies_and_v2_is_material(demo):
    db, summary = demo
    with db.session() as s:
        report = ledger.verify(s)
        v2_share = s.execute(
            select(func.count())
            .select_from(ConsentEventRow)
            .where(
                ConsentEventRow.policy_version == 2,
                ConsentEventRow.purpose == "share_with_providers",
            )
        ).scalar_one()
        withdrawals = s.execute(
            select(func.count())
            .select_from(ConsentEventRow)
            .where(ConsentEventRow.action == "withdraw")
        ).scalar_one()
    assert report.ok and report.length == summary.ledger_events
    assert report.head_hash == summary.ledger_head
    assert [v["material"] for v in summary.policy_versions] == [[], ["share_with_providers"]]
    assert v2_share > 0 and withdrawals > 0
    assert summary.reasons["share_with_providers"].get("STALE_POLICY", 0) > 0
    assert summary.reasons["train_own_models"].get("WITHDRAWN", 0) > 0


def test_when_the_demo_is_built_then_content_covers_every_kind_and_state(demo):
    db, summary = demo
    assert set(summary.content_by_kind) == {"post", "article", "comment", "message", "profile"}
    assert set(summary.content_by_visibility) == {"public", "connections", "private"}
    assert summary.deleted > 0 and summary.edited > 0
    assert summary.languages["en"] > 0.8 * sum(summary.languages.values())
    assert len(summary.languages) > 1
    with db.session() as s:
        msg_vis = set(
            s.execute(
                select(ContentRow.visibility).where(ContentRow.kind == "message").distinct()
            ).scalars()
        )
        bad_times = s.execute(
            select(func.count())
            .select_from(ContentRow)
            .join(MemberRow, MemberRow.id == ContentRow.author_id)
            .where(ContentRow.created_at < MemberRow.joined_at)
        ).scalar_one()
    assert msg_vis == {"private"}
    assert bad_times == 0


def test_when_the_demo_is_built_then_only_the_login_accounts_have_passwords(demo):
    db, summary = demo
    with db.session() as s:
        rows = s.execute(
            select(MemberRow.handle, MemberRow.role, MemberRow.password_hash).where(
                MemberRow.password_hash.is_not(None)
            )
        ).all()
    by_handle = {h: (role, ph) for h, role, ph in rows}
    assert (
        set(by_handle) == {a.handle for a in summary.accounts} == {"ada", "grace", "kofi", "admin"}
    )
    assert by_handle["admin"][0] == "admin"
    for a in summary.accounts:
        assert by_handle[a.handle][1].startswith("$argon2id$")
    for a in (summary.accounts[0], summary.accounts[-1]):  # argon2 is slow: two suffice
        assert verify_password(by_handle[a.handle][1], a.password)
    reasons = {d.member_id: d.reason.value for d in decide_all(db, "share_with_providers", NOW)}
    assert reasons["m0000001"] == "ELIGIBLE"  # ada re-consented after the material update
    assert reasons["m0000002"] == "EXCLUDED_JURISDICTION"  # grace lives in GB
    assert reasons["m0000003"] == "NO_CONSENT"  # kofi never consented


_GOV = re.compile(r"\d{3}-\d{2}-\d{4}|[A-Z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-D]")


def test_when_the_demo_is_built_then_every_ground_truth_span_is_exactly_what_was_inserted(demo):
    db, summary = demo
    assert summary.ground_truth is not None
    docs = [json.loads(line) for line in Path(summary.ground_truth).read_text("utf-8").splitlines()]
    texts = dict(content_digest_texts(db))
    assert len(docs) == len(texts) == 3000
    with db.session() as s:
        members = s.execute(select(MemberRow.handle, MemberRow.display_name)).all()
    handles = {h for h, _ in members}
    names = {n for _, n in members}
    firsts = {n.split(" ")[0] for n in names}
    labels: Counter[str] = Counter()
    for doc in docs:
        text = doc["text"]
        assert texts[doc["id"]] == text
        last_end = 0
        for span in doc["spans"]:
            start, end, label = span["start"], span["end"], span["label"]
            assert 0 <= start < end <= len(text) and start >= last_end
            last_end = end
            value = text[start:end]
            assert value == value.strip() and value
            labels[label] += 1
            check_value(label, value, handles, names, firsts)
    assert labels == Counter(summary.pii_by_label)
    for label in (
        "PERSON",
        "HANDLE",
        "EMAIL",
        "PHONE",
        "URL",
        "LOCATION",
        "CREDIT_CARD",
        "IBAN",
        "GOV_ID",
        "IP_ADDRESS",
    ):
        assert labels[label] > 0, label


def content_digest_texts(db: Database) -> list[tuple[str, str]]:
    with db.session() as s:
        return list(s.execute(select(ContentRow.id, ContentRow.text)).all())  # type: ignore


def check_value(
    label: str, value: str, handles: set[str], names: set[str], firsts: set[str]
) -> None:
    if label == "HANDLE":
        assert value.startswith("@") and value[1:] in handles
    elif label == "URL":
        assert value.startswith(pii.PROFILE_BASE) and value[len(pii.PROFILE_BASE) :] in handles
    elif label == "PERSON":
        # a display name, or a first name (native-script names end with the first name)
        assert value in names or value in firsts or any(n.endswith(value) for n in names)
    elif label == "EMAIL":
        assert "@" in value or " at " in value or "[at]" in value
    elif label == "CREDIT_CARD":
        assert pii.luhn_ok(value) and len(re.sub(r"\D", "", value)) in (15, 16)
    elif label == "IBAN":
        assert pii.iban_valid(value)
    elif label == "GOV_ID":
        assert _GOV.fullmatch(value), value
    elif label == "PHONE":
        assert phonenumbers.is_possible_number(phonenumbers.parse(value, "US")) or re.fullmatch(
            r"[\d\s()+\-]{7,}", value
        ), value
    elif label == "IP_ADDRESS":
        assert all(0 <= int(p) < 256 for p in value.split("."))
    elif label == "LOCATION":
        assert any(ch.isdigit() for ch in value)
    else:  # pragma: no cover
        raise AssertionError(f"unexpected label {label}")


# -- guards ---------------------------------------------------------------------------


def test_when_the_database_already_has_members_then_the_demo_refuses(sqlite_db):
    generate_demo(sqlite_db, members=10, posts=10, seed=1, now=NOW, accounts=False)
    with pytest.raises(ConflictError, match="fresh database"):
        generate_demo(sqlite_db, members=10, posts=10, seed=1, now=NOW, accounts=False)


def test_when_arguments_are_invalid_then_input_error(sqlite_db):
    with pytest.raises(InputError, match="members"):
        generate_demo(sqlite_db, members=1, posts=10, seed=1, now=NOW)
    with pytest.raises(InputError, match="timezone"):
        generate_demo(sqlite_db, members=10, posts=10, seed=1, now=datetime(2026, 1, 1))
    with pytest.raises(InputError, match="90 days"):
        generate_demo(sqlite_db, members=10, posts=10, seed=1, now=datetime(2024, 2, 1, tzinfo=UTC))
    assert sqlite_db.table_counts()["members"] == 0


# -- the personal-data generators (pure) ----------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32))
def test_generated_cards_and_ibans_always_pass_their_checksums(seed):
    rng = random.Random(seed)
    assert pii.luhn_ok(pii.credit_card(rng))
    country = rng.choice(pii.IBAN_COUNTRIES)
    value = pii.iban(country, rng, grouped=rng.random() < 0.5)
    assert pii.iban_valid(value) and value.startswith(country)
    assert (
        not pii.iban_valid(value[:-1] + str((int(value[-1]) + 1) % 10))
        if value[-1].isdigit()
        else True
    )
    ssn = pii.ssn(rng)
    area = int(ssn[:3])
    assert 0 < area < 900 and area != 666
    assert _GOV.fullmatch(pii.nino(rng))


@pytest.mark.parametrize("country", [c.code for c in COUNTRIES])
def test_generated_phones_are_valid_numbers_of_the_country(country):
    rng = random.Random(country)
    for international in (False, True):
        value = pii.phone(country, rng, international=international)
        parsed = phonenumbers.parse(value, country)
        assert phonenumbers.is_valid_number(parsed), (country, value)
        assert phonenumbers.region_code_for_number(parsed) in (country, "US", "CA"), value
        assert value.startswith("+") == international


def test_ascii_fold_keeps_handles_and_emails_ascii():
    assert pii.ascii_fold("Zoë Łukasz Müller-Straße") == "Zoe Lukasz Muller-Strasse"
    rng = random.Random(1)
    local = pii.email_local("Zoë", "Łukasz", rng)
    assert local.isascii()
