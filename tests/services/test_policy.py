"""Publishing and reading policy versions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from optin.domain.policy import default_policy_text
from optin.errors import ConfigError, ConflictError, InputError, NotFoundError
from optin.services.policy import current_policy, get_policy, policy_set, publish_policy
from optin.services.setup import DEFAULT_POLICY_EFFECTIVE_AT, init_database
from optin.storage.database import Database

NOW = datetime(2025, 6, 1, tzinfo=UTC)


def test_when_initialised_then_default_policy_is_version_1(db: Database) -> None:
    ps = policy_set(db)
    assert [v.version for v in ps.versions] == [1]
    v1 = ps.versions[0]
    assert v1.effective_at == DEFAULT_POLICY_EFFECTIVE_AT
    assert set(v1.purposes) == {"train_own_models", "share_with_providers"}
    assert init_database(db, now=NOW) is False  # idempotent: no second version
    assert len(policy_set(db)) == 1


def test_when_publishing_then_next_version_with_material_purposes(db: Database) -> None:
    pv = publish_policy(
        db, default_policy_text(), effective_at=NOW, material={"share_with_providers"}, now=NOW
    )
    assert pv.version == 2 and pv.material == frozenset({"share_with_providers"})
    ps = policy_set(db)
    assert [v.version for v in ps.versions] == [1, 2]
    assert ps.required_version("share_with_providers", NOW) == 2
    assert ps.required_version("train_own_models", NOW) is None
    assert current_policy(db, NOW - timedelta(days=1)).version == 1
    assert current_policy(db, NOW).version == 2
    assert get_policy(db, 2).material == frozenset({"share_with_providers"})


def test_when_effective_before_latest_then_conflict(db: Database) -> None:
    publish_policy(db, default_policy_text(), effective_at=NOW, now=NOW)
    with pytest.raises(ConflictError, match="effective"):
        publish_policy(db, default_policy_text(), effective_at=NOW - timedelta(days=1), now=NOW)
    assert len(policy_set(db)) == 2


def test_when_material_purpose_unknown_then_config_error(db: Database) -> None:
    with pytest.raises(ConfigError, match="nope"):
        publish_policy(db, default_policy_text(), effective_at=NOW, material={"nope"}, now=NOW)
    assert len(policy_set(db)) == 1


def test_when_document_invalid_then_input_error_and_nothing_published(db: Database) -> None:
    with pytest.raises(InputError):
        publish_policy(db, "purposes = 3", effective_at=NOW, now=NOW)
    assert len(policy_set(db)) == 1


def test_when_version_missing_then_not_found(db: Database) -> None:
    with pytest.raises(NotFoundError, match="published versions"):
        get_policy(db, 7)
    with pytest.raises(NotFoundError):
        current_policy(db, datetime(2020, 1, 1, tzinfo=UTC))


def test_when_effective_in_the_past_then_refused_unless_backdating_is_allowed(
    db: Database,
) -> None:
    past = NOW - timedelta(days=30)
    with pytest.raises(ConflictError, match="in the past"):
        publish_policy(db, default_policy_text(), effective_at=past, now=NOW)
    assert len(policy_set(db)) == 1
    pv = publish_policy(db, default_policy_text(), effective_at=past, now=NOW, allow_backdate=True)
    assert pv.version == 2 and pv.effective_at == past
