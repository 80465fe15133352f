"""The policy's [audit] table: thresholds a trained model's audit must stay within."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from optin.domain import AuditThresholds, default_policy_text, parse_policy
from optin.errors import InputError

T = datetime(2024, 1, 1, tzinfo=UTC)
SHIPPED_AUDIT = default_policy_text()[default_policy_text().index("[audit]") :]
WITHOUT_AUDIT = default_policy_text()[: default_policy_text().index("[audit]")]


def _with_audit(body: str) -> str:
    return WITHOUT_AUDIT + "[audit]\n" + body + "\n"


def test_shipped_policy_sets_audit_thresholds() -> None:
    a = parse_policy(default_policy_text(), version=1, effective_at=T).audit
    assert a == AuditThresholds(
        max_exposure_bits={1: 8.0},
        max_mean_exposure_bits={},
        max_withdrawn_membership_auc=0.6,
        max_withdrawn_verbatim_rate=0.05,
    )
    assert not a.is_empty()


def test_when_policy_has_no_audit_table_then_nothing_is_checked() -> None:
    """Backward compatible: policies published before audits existed block nothing."""
    a = parse_policy(WITHOUT_AUDIT, version=1, effective_at=T).audit
    assert a == AuditThresholds() and a.is_empty()


def test_every_threshold_parses() -> None:
    a = parse_policy(
        _with_audit(
            'max_exposure_bits = { "1" = 6, "4" = 7.5 }\n'
            'max_mean_exposure_bits = { "16" = 3.4 }\n'
            "max_verbatim_rate = 0.1\nmax_near_verbatim_rate = 0.2\n"
            "max_withdrawn_verbatim_rate = 0\nmax_withdrawn_near_verbatim_rate = 0.01\n"
            "max_withdrawn_membership_auc = 0.55"
        ),
        version=1,
        effective_at=T,
    ).audit
    assert a.max_exposure_bits == {1: 6.0, 4: 7.5} and a.max_mean_exposure_bits == {16: 3.4}
    assert (a.max_verbatim_rate, a.max_near_verbatim_rate) == (0.1, 0.2)
    assert a.max_withdrawn_verbatim_rate == 0.0 and a.max_withdrawn_near_verbatim_rate == 0.01
    assert a.max_withdrawn_membership_auc == 0.55


BAD = [
    ("not_a_table", None, "audit = 3", "field 'audit': must be a table"),
    ("unknown_key", "max_exposure = 3", None, "unknown audit threshold"),
    ("rep_not_number", 'max_exposure_bits = { "one" = 3.0 }', None, "not a repetition count"),
    ("rep_zero", 'max_exposure_bits = { "0" = 3.0 }', None, "not a repetition count"),
    ("bits_text", 'max_exposure_bits = { "1" = "8" }', None, "field 'audit.max_exposure_bits.1'"),
    ("bits_negative", 'max_mean_exposure_bits = { "1" = -1 }', None, "0..1024"),
    ("map_not_table", "max_exposure_bits = 8", None, "repetition count = bits"),
    ("rate_above_one", "max_verbatim_rate = 1.5", None, "0..1"),
    ("rate_bool", "max_withdrawn_membership_auc = true", None, "must be a number"),
]


@pytest.mark.parametrize(("name", "body", "raw", "needle"), BAD, ids=[b[0] for b in BAD])
def test_when_audit_table_is_bad_then_error_names_the_field(name, body, raw, needle) -> None:
    text = _with_audit(body) if body is not None else raw + "\n" + WITHOUT_AUDIT
    with pytest.raises(InputError, match=needle.replace("(", r"\(")) as exc:
        parse_policy(text, version=1, effective_at=T, source="p.toml")
    assert "p.toml" in str(exc.value) and (exc.value.field or "").startswith("audit")
