"""Policy parsing: shipped defaults and clear errors on bad documents."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from optin.domain import (
    PURPOSE_ID_PATTERN,
    CapacityRules,
    ContentKind,
    Regime,
    Visibility,
    check_purpose_id,
    default_policy_text,
    is_valid_purpose_id,
    parse_policy,
)
from optin.errors import ConfigError, InputError

T = datetime(2024, 1, 1, tzinfo=UTC)


def test_shipped_default_policy() -> None:
    p = parse_policy(default_policy_text(), version=1, effective_at=T)
    assert set(p.purposes) == {"train_own_models", "share_with_providers"}
    for purpose in p.purposes.values():
        assert ContentKind.MESSAGE not in purpose.kinds
        assert purpose.visibilities == {Visibility.PUBLIC}
    rules = p.jurisdictions
    assert rules.default_regime is Regime.OPT_IN
    for c in ("DE", "FR", "IE", "NO", "IS", "LI", "CH", "GB"):
        assert rules.regime(c) is Regime.EXCLUDED
    assert rules.regime("US") is Regime.OPT_IN
    assert rules.minimum_age == 18


BAD = [
    ("not_toml", "purposes = [", "invalid TOML"),
    ("no_purposes", "summary = 'x'", "purposes"),
    (
        "messages_never",
        default_policy_text().replace(
            'kinds = ["post", "article", "comment"]', 'kinds = ["post", "message"]', 1
        ),
        "private messages",
    ),
    ("bad_kind", default_policy_text().replace('"article"', '"video"', 1), "video"),
    ("bad_country", default_policy_text().replace('"AT"', '"XX"'), "XX"),
    (
        "bad_regime",
        default_policy_text().replace('default = "opt_in"', 'default = "maybe"'),
        "maybe",
    ),
    ("bad_age", default_policy_text().replace("minimum_age = 18", "minimum_age = 3"), "13..25"),
]


@pytest.mark.parametrize(("name", "text", "needle"), BAD, ids=[b[0] for b in BAD])
def test_when_policy_is_bad_then_error_names_the_problem(name, text, needle) -> None:
    with pytest.raises(InputError) as exc:
        parse_policy(text, version=1, effective_at=T, source="p.toml")
    assert needle in str(exc.value)
    assert "p.toml" in str(exc.value)


def test_when_material_names_unknown_purpose_then_config_error() -> None:
    with pytest.raises(ConfigError, match="train_own_models"):
        parse_policy(default_policy_text(), version=2, effective_at=T, material=frozenset({"nope"}))


def _with_purpose_id(pid: str) -> str:
    body = default_policy_text().split("[purposes.share_with_providers]", 1)[1]
    body = body.split("[jurisdictions]", 1)[0]
    head = default_policy_text().split("[purposes.train_own_models]", 1)[0]
    return f"{head}[purposes.{json.dumps(pid)}]{body}"


GOOD_IDS = ["train_own_models", "a", "x1", "share_2_providers", "a" + "b" * 63]
BAD_IDS = [
    ("traversal", "../../../outside"),
    ("slash", "a/b"),
    ("dots", "a..b"),
    ("cr_lf", "evil\r\nX-Injected: 1"),
    ("lf_at_end", "train\n"),
    ("brackets", "[/x]"),
    ("bracket_in_word", "a[b]"),
    ("upper", "Train"),
    ("leading_digit", "1purpose"),
    ("leading_underscore", "_hidden"),
    ("hyphen", "train-models"),
    ("space", "train models"),
    ("non_ascii", "tráin"),
    ("fullwidth", "ｔrain"),
    ("empty", ""),
    ("too_long", "a" * 65),
    ("nul", "a\x00b"),
]


@pytest.mark.parametrize("pid", GOOD_IDS)
def test_when_purpose_id_matches_the_pattern_then_accepted(pid: str) -> None:
    p = parse_policy(_with_purpose_id(pid), version=1, effective_at=T)
    assert pid in p.purposes and is_valid_purpose_id(pid)


@pytest.mark.parametrize(("name", "pid"), BAD_IDS, ids=[b[0] for b in BAD_IDS])
def test_when_purpose_id_is_bad_then_error_names_it_and_the_pattern(name, pid) -> None:
    with pytest.raises(InputError) as exc:
        parse_policy(_with_purpose_id(pid), version=1, effective_at=T, source="p.toml")
    msg = str(exc.value)
    assert "p.toml" in msg and "invalid purpose id" in msg
    assert repr(pid)[:40] in msg  # named, escaped (no raw CR/LF in the message)
    assert "\r" not in msg and "\n" not in msg
    assert PURPOSE_ID_PATTERN in msg
    assert exc.value.value == pid and exc.value.field == "purposes"
    assert not is_valid_purpose_id(pid)
    with pytest.raises(InputError):
        check_purpose_id(pid)


def test_capacity_and_notice_defaults_and_switches() -> None:
    p = parse_policy(default_policy_text(), version=1, effective_at=T)
    assert p.capacity == CapacityRules(True, True)
    assert p.notice_days == 30 and p.in_force_at is None and p.in_force_from == T
    bare = default_policy_text().split("[capacity]")[0].replace("notice_days = 30", "")
    bare += (
        default_policy_text()
        .split("[purposes.train_own_models]", 1)[1]
        .join(["[purposes.train_own_models]", ""])
    )
    q = parse_policy(bare, version=1, effective_at=T)
    assert q.capacity == CapacityRules() and q.notice_days == 30


BAD_SWITCHES = [
    (
        "capacity_not_bool",
        ("void_grants_given_as_minor = true", 'void_grants_given_as_minor = "yes"'),
        "true or false",
    ),
    (
        "capacity_unknown_rule",
        ("void_grants_given_as_minor = true", "void_everything = true"),
        "unknown capacity rule",
    ),
    ("notice_zero", ("notice_days = 30", "notice_days = 0"), "1..365"),
    ("notice_text", ("notice_days = 30", 'notice_days = "30"'), "1..365"),
]


@pytest.mark.parametrize(("name", "swap", "needle"), BAD_SWITCHES, ids=[b[0] for b in BAD_SWITCHES])
def test_when_capacity_or_notice_is_bad_then_error_names_it(name, swap, needle) -> None:
    text = default_policy_text().replace(*swap)
    with pytest.raises(InputError, match=needle):
        parse_policy(text, version=1, effective_at=T, source="p.toml")


def test_when_in_force_before_published_then_config_error() -> None:
    with pytest.raises(ConfigError, match="before effective_at"):
        parse_policy(
            default_policy_text(), version=1, effective_at=T, in_force_at=T - timedelta(days=1)
        )
