"""Policy parsing: shipped defaults and clear errors on bad documents."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from optin.domain import ContentKind, Regime, Visibility, default_policy_text, parse_policy
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
