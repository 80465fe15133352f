"""policy_changes / publish_requirements / descriptions: what a new version changes and
what publishing it requires (opt-out is never silent)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from optin.domain import (
    ChangeKind,
    PolicyChange,
    changes_for_country,
    check_publish,
    default_policy_text,
    describe_change,
    parse_policy,
    policy_changes,
    policy_text_diff,
    publish_requirements,
    regime_table,
    schedule_in_force,
)
from optin.domain.model import Regime

T = datetime(2026, 12, 6, tzinfo=UTC)
BASE = default_policy_text()
OWN, SHARE = "train_own_models", "share_with_providers"
AZURE = '"Azure OpenAI Service (Microsoft)"]'


def v(text: str, version: int = 2):
    return parse_policy(text, version=version, effective_at=T)


def reqs(old_text: str, new_text: str):
    old, new = v(old_text, 1), v(new_text)
    changes = policy_changes(old, new)
    return changes, publish_requirements(changes, notice_days=new.notice_days, new=new)


def kinds(changes: list[PolicyChange]) -> set[tuple[str, ChangeKind]]:
    return {(c.purpose, c.kind) for c in changes}


# (name, new text, expected (purpose, kind) set, material, flag)
CASES = [
    ("unchanged", BASE, set(), set(), False),
    (
        "br_opt_out",
        BASE.replace("opt_out = []", 'opt_out = ["BR"]'),
        {(OWN, ChangeKind.REGIME_CHANGED), (SHARE, ChangeKind.REGIME_CHANGED)},
        {OWN, SHARE},
        True,
    ),
    (
        "default_opt_out",
        BASE.replace('default = "opt_in"', 'default = "opt_out"'),
        {(OWN, ChangeKind.REGIME_CHANGED), (SHARE, ChangeKind.REGIME_CHANGED)},
        {OWN, SHARE},
        True,
    ),
    (
        "de_excluded_to_opt_in",
        BASE.replace('"DE", ', "").replace("opt_in = []", 'opt_in = ["DE"]'),
        {(OWN, ChangeKind.REGIME_CHANGED), (SHARE, ChangeKind.REGIME_CHANGED)},
        set(),
        False,
    ),
    (
        "recipient_added",
        BASE.replace(AZURE, AZURE[:-1] + ', "Acme AI"]'),
        {(SHARE, ChangeKind.RECIPIENTS_ADDED)},
        {SHARE},
        False,
    ),
    (
        "recipient_removed",
        BASE.replace('recipients = ["the platform"]', "recipients = []"),
        {(OWN, ChangeKind.RECIPIENTS_REMOVED)},
        set(),
        False,
    ),
    (
        "kinds_widened",
        BASE.replace(
            'kinds = ["post", "article", "comment"]',
            'kinds = ["post", "article", "comment", "profile"]',
            1,
        ),
        {(OWN, ChangeKind.KINDS_WIDENED)},
        {OWN},
        False,
    ),
    (
        "visibility_widened",
        BASE.replace('visibility = ["public"]', 'visibility = ["public", "connections"]', 1),
        {(OWN, ChangeKind.VISIBILITY_WIDENED)},
        {OWN},
        False,
    ),
    (
        "kinds_narrowed",
        BASE.replace('kinds = ["post", "article", "comment"]', 'kinds = ["post"]', 1),
        {(OWN, ChangeKind.KINDS_NARROWED)},
        set(),
        False,
    ),
    (
        "text_only",
        BASE.replace("Share my content with third-party", "Share my posts with third-party"),
        {(SHARE, ChangeKind.TEXT_CHANGED)},
        set(),
        False,
    ),
    (
        "capacity_relaxed",
        BASE.replace("void_grants_given_as_minor = true", "void_grants_given_as_minor = false"),
        {(OWN, ChangeKind.CAPACITY_RELAXED), (SHARE, ChangeKind.CAPACITY_RELAXED)},
        {OWN, SHARE},
        False,
    ),
    (
        "purpose_added_in_opt_in",
        BASE
        + '\n[purposes.summarise]\ntitle = "S"\ndescription = "D"\nkinds = ["post"]\nvisibility = ["public"]\n',
        {("summarise", ChangeKind.PURPOSE_ADDED)},
        set(),
        False,
    ),
    (
        "min_age_lowered_in_opt_in",
        BASE.replace("minimum_age = 18", "minimum_age = 16"),
        {(OWN, ChangeKind.MINIMUM_AGE_CHANGED), (SHARE, ChangeKind.MINIMUM_AGE_CHANGED)},
        set(),
        False,
    ),
]


@pytest.mark.parametrize(
    ("name", "text", "expected", "material", "flag"), CASES, ids=[c[0] for c in CASES]
)
def test_changes_and_requirements(name, text, expected, material, flag) -> None:
    # new text keeps the TOML valid after the edit at the end of the file
    changes, req = reqs(BASE, text)
    assert kinds(changes) == expected
    assert req.material == material
    assert req.opt_out_acknowledgement is flag
    assert req.notice == (timedelta(days=30) if flag else timedelta(0))


BR_OUT = BASE.replace("opt_out = []", 'opt_out = ["BR"]')
EXPOSURE = [
    ("recipient_added_where_opt_out", BR_OUT.replace(AZURE, AZURE[:-1] + ', "Acme AI"]'), {SHARE}),
    (
        "min_age_lowered_where_opt_out",
        BR_OUT.replace("minimum_age = 18", "minimum_age = 16"),
        {OWN, SHARE},
    ),
    (
        "purpose_added_where_opt_out",
        BR_OUT
        + '\n[purposes.summarise]\ntitle = "S"\ndescription = "D"\nkinds = ["post"]\nvisibility = ["public"]\n',
        {"summarise"},
    ),
    ("text_only_where_opt_out", BR_OUT.replace("Share my content", "Share my posts"), set()),
]


@pytest.mark.parametrize(("name", "text", "exposed"), EXPOSURE, ids=[e[0] for e in EXPOSURE])
def test_when_opt_out_already_applies_then_wider_use_needs_the_flag_and_notice(
    name, text, exposed
) -> None:
    """Members included by default get the wider use without doing anything, so it is an
    opt-out too: flag and notice, not only material."""
    _, req = reqs(BR_OUT, text)
    assert req.opt_out_purposes == exposed
    assert req.opt_out_acknowledgement is bool(exposed)
    assert "summarise" not in req.material  # a new purpose has no earlier grants


def test_br_opt_out_is_described_in_plain_language_from_its_date() -> None:
    old, new = v(BASE, 1), v(BR_OUT)
    changes = policy_changes(old, new)
    req = publish_requirements(changes, notice_days=new.notice_days, new=new)
    when = schedule_in_force(T, req)
    assert when == datetime(2027, 1, 5, tzinfo=UTC)
    share = next(c for c in changes if c.purpose == SHARE)
    assert (share.country, share.before, share.after) == ("BR", "opt_in", "opt_out")
    assert share.introduces_opt_out and share.to_dict()["kind"] == "regime_changed"
    assert describe_change(share, in_force_at=when) == (
        "From 2027-01-05, members in Brazil who have not chosen are included by default for "
        "'Share my content with third-party AI model providers' (they can switch it off)."
    )
    # a member in Brazil sees both purposes' changes; one in India sees none of them
    assert len(changes_for_country(changes, "BR", new)) == 2
    assert changes_for_country(changes, "IN", new) == []


def test_when_default_regime_changes_then_unlisted_countries_are_concerned() -> None:
    new = v(BASE.replace('default = "opt_in"', 'default = "opt_out"'))
    changes = policy_changes(v(BASE, 1), new)
    assert {c.country for c in changes} == {None}
    assert len(changes_for_country(changes, "IN", new)) == 2
    assert changes_for_country(changes, "DE", new) == []  # listed as excluded
    text = describe_change(changes[0], in_force_at=T)
    assert "every country not listed separately" in text


def test_first_version_lists_its_purposes_and_opt_out_needs_the_flag() -> None:
    first = v(BR_OUT, 1)
    changes = policy_changes(None, first)
    assert {c.kind for c in changes} == {ChangeKind.PURPOSE_ADDED, ChangeKind.REGIME_CHANGED}
    req = publish_requirements(changes, notice_days=first.notice_days, new=first)
    assert req.opt_out_acknowledgement and req.material == frozenset()
    plain = publish_requirements(policy_changes(None, v(BASE, 1)))
    assert not plain.opt_out_acknowledgement and plain.notice == timedelta(0)
    assert schedule_in_force(T, plain) is None


def test_notice_days_from_the_policy() -> None:
    _, req = reqs(BASE, BR_OUT.replace("notice_days = 30", "notice_days = 45"))
    assert req.notice == timedelta(days=45)
    check_publish(req, material={OWN, SHARE}, acknowledged=True)


def test_text_diff_and_regime_table() -> None:
    diff = policy_text_diff(BASE, BR_OUT, old_label="version 1", new_label="version 2")
    assert diff.startswith("--- version 1\n+++ version 2\n")
    assert '-opt_out = []\n+opt_out = ["BR"]\n' in diff
    assert policy_text_diff(BASE, BASE) == ""
    table = regime_table(v(BR_OUT))
    assert table[Regime.OPT_OUT] == ("BR",) and "DE" in table[Regime.EXCLUDED]
    assert table[Regime.OPT_IN] == ()
