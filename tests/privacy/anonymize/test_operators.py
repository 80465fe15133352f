"""Operators as tables: one row per (operator, label, value) -> expected behaviour."""

from __future__ import annotations

import re

import pytest

from optin.errors import ConfigError
from optin.privacy.anonymize import Policy, anonymize, get_operator, operator_names
from optin.privacy.anonymize.fakes import is_reserved
from optin.privacy.checksums import iban_valid, luhn_valid
from optin.privacy.findings import Finding, Label

KEY = b"snapshot-key-1"


def one(value: str, label: Label, operator: str, key: bytes = KEY, **kw: object) -> str:
    text = f"x {value} y"
    f = Finding(2, 2 + len(value), label, 0.9, "test")
    out = anonymize(text, [f], Policy(operator=operator, key=key, drop_density=None, **kw)).text  # type: ignore[arg-type]
    assert out.startswith("x ") and out.endswith(" y")
    return out[2:-2]


def test_when_registry_is_listed_then_builtins_are_there() -> None:
    assert {"keep", "mask", "pseudonym", "surrogate"} <= set(operator_names())


def test_when_operator_unknown_then_config_error_lists_valid_names() -> None:
    with pytest.raises(ConfigError, match="allowed: keep, mask, pseudonym, surrogate"):
        get_operator("shred")
    with pytest.raises(ConfigError, match="unknown anonymization operator 'shred'"):
        Policy(operator="shred")


@pytest.mark.parametrize("operator", ["pseudonym", "surrogate"])
def test_when_keyed_operator_has_no_key_then_config_error(operator: str) -> None:
    with pytest.raises(ConfigError, match="needs a non-empty HMAC key"):
        Policy(operator=operator)


@pytest.mark.parametrize(
    ("kw", "match"),
    [({"tag_hex_len": 1}, "tag_hex_len"), ({"drop_density": 1.5}, "drop_density")],
)
def test_when_policy_parameter_out_of_range_then_config_error(kw: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        Policy(**kw)


@pytest.mark.parametrize(
    ("value", "label", "expected"),
    [
        ("jane@corp.com", Label.EMAIL, "[EMAIL]"),
        ("Jane Doe", Label.PERSON, "[PERSON]"),
        ("@jdoe", Label.HANDLE, "[HANDLE]"),
        ("+44 20 7946 0958", Label.PHONE, "[PHONE]"),
        ("4111 1111 1111 1111", Label.CREDIT_CARD, "[CREDIT_CARD]"),
    ],
)
def test_mask_replaces_with_type_tag(value: str, label: Label, expected: str) -> None:
    assert one(value, label, "mask") == expected


@pytest.mark.parametrize("value", ["jane@corp.com", "Jane Doe", "4111 1111 1111 1111"])
def test_keep_leaves_value(value: str) -> None:
    assert one(value, Label.OTHER, "keep") == value


@pytest.mark.parametrize(
    ("a", "b", "label"),
    [
        ("Jane Doe", "jane   DOE", Label.PERSON),
        ("Jane@Corp.com", "jane@corp.com", Label.EMAIL),
        ("+1 (415) 555-2671", "+1 415 555 2671", Label.PHONE),
        ("@JDoe", "jdoe", Label.HANDLE),
        ("https://www.site.com/in/jdoe/", "site.com/in/jdoe", Label.URL),
        ("DE89 3704 0044 0532 0130 00", "de89370400440532013000", Label.IBAN),
    ],
)
def test_pseudonym_same_entity_same_tag(a: str, b: str, label: Label) -> None:
    ta, tb = one(a, label, "pseudonym"), one(b, label, "pseudonym")
    assert ta == tb
    assert re.fullmatch(rf"<{label}_[0-9a-f]{{4}}>", ta)


def test_pseudonym_differs_across_keys_and_entities() -> None:
    assert one("Jane Doe", Label.PERSON, "pseudonym", key=b"k1") != one(
        "Jane Doe", Label.PERSON, "pseudonym", key=b"k2"
    )
    assert one("Jane Doe", Label.PERSON, "pseudonym") != one("John Roe", Label.PERSON, "pseudonym")


def test_pseudonym_tag_length_is_configurable() -> None:
    assert re.fullmatch(
        r"<EMAIL_[0-9a-f]{12}>", one("a@b.io", Label.EMAIL, "pseudonym", tag_hex_len=12)
    )


def test_when_surname_follows_full_name_then_same_pseudonym() -> None:
    text = "Jane Doe wrote this. Later Doe replied, and Mr. Roe too."
    fs = [
        Finding(0, 8, Label.PERSON, 1, "t"),
        Finding(27, 30, Label.PERSON, 1, "t"),
        Finding(48, 51, Label.PERSON, 1, "t"),
    ]
    out = anonymize(text, fs, Policy(operator="pseudonym", key=KEY, drop_density=None)).text
    tags = re.findall(r"<PERSON_[0-9a-f]+>", out)
    assert tags[0] == tags[1] != tags[2]


def test_when_surname_is_ambiguous_then_no_alias() -> None:
    text = "Jane Doe and John Doe met. Doe left."
    fs = [
        Finding(0, 8, Label.PERSON, 1, "t"),
        Finding(13, 21, Label.PERSON, 1, "t"),
        Finding(27, 30, Label.PERSON, 1, "t"),
    ]
    tags = re.findall(
        r"<PERSON_[0-9a-f]+>",
        anonymize(text, fs, Policy(operator="pseudonym", key=KEY, drop_density=None)).text,
    )
    assert len(set(tags)) == 3


def test_surrogate_person_surname_alias_uses_surrogate_surname() -> None:
    text = "Jane Doe wrote. Doe replied."
    fs = [Finding(0, 8, Label.PERSON, 1, "t"), Finding(16, 19, Label.PERSON, 1, "t")]
    out = anonymize(text, fs, Policy(operator="surrogate", key=KEY, drop_density=None)).text
    full = out.split(" wrote")[0]
    assert out == f"{full} wrote. {full.split()[-1]} replied."


@pytest.mark.parametrize(
    ("value", "label", "check"),
    [
        ("jane.doe@corp.com", Label.EMAIL, lambda s: s.endswith("@example.com")),
        ("+44 20 7946 0958", Label.PHONE, lambda s: re.fullmatch(r"\+1 \d{3}-555-01\d\d", s)),
        ("https://linkedin.com/in/jdoe", Label.URL, lambda s: s.startswith("https://example.com/")),
        ("10.1.2.3", Label.IP_ADDRESS, lambda s: is_reserved(s, Label.IP_ADDRESS)),
        ("fe80::1ff:fe23:4567:890a", Label.IP_ADDRESS, lambda s: s.startswith("2001:db8::")),
        (
            "4111 1111 1111 1111",
            Label.CREDIT_CARD,
            lambda s: re.fullmatch(r"\d{4} \d{4} \d{4} \d{4}", s) and not luhn_valid(s),
        ),
        ("4111111111111111", Label.CREDIT_CARD, lambda s: len(s) == 16 and not luhn_valid(s)),
        (
            "DE89 3704 0044 0532 0130 00",
            Label.IBAN,
            lambda s: s.startswith("DE") and len(s) == 27 and not iban_valid(s),
        ),
        ("GB82WEST12345698765432", Label.IBAN, lambda s: len(s) == 22 and not iban_valid(s)),
        ("123-45-6789", Label.GOV_ID, lambda s: re.fullmatch(r"000-\d\d-\d{4}", s)),
        ("AB 12 34 56 C", Label.GOV_ID, lambda s: s.startswith("QQ") and len(s) == 13),
        ("Jane Doe", Label.PERSON, lambda s: len(s.split()) == 2 and s != "Jane Doe"),
        ("Jane", Label.PERSON, lambda s: len(s.split()) == 1),
        ("@jdoe", Label.HANDLE, lambda s: s.startswith("@") and s != "@jdoe"),
        ("12 Rue de Rivoli", Label.LOCATION, lambda s: s[0].isdigit()),
        ("March 3, 1990", Label.DATE_TIME, lambda s: re.search(r"\d{4}$", s)),
        ("weird thing", Label.OTHER, lambda s: s == "[OTHER]"),
    ],
)
def test_surrogate_is_realistic_and_never_real(value: str, label: Label, check: object) -> None:
    out = one(value, label, "surrogate")
    assert check(out), out  # type: ignore[operator]
    assert out == one(value, label, "surrogate")  # deterministic


@pytest.mark.parametrize(
    ("value", "label"),
    [
        ("maria.kim@example.com", Label.EMAIL),
        ("+1 202-555-0147", Label.PHONE),
        ("https://example.com/in/x", Label.URL),
        ("192.0.2.7", Label.IP_ADDRESS),
        ("2001:db8::1", Label.IP_ADDRESS),
    ],
)
def test_surrogate_keeps_reserved_values(value: str, label: Label) -> None:
    assert one(value, label, "surrogate") == value


def test_per_label_operator_overrides_default() -> None:
    text = "Jane at jane@corp.com"
    fs = [Finding(0, 4, Label.PERSON, 1, "t"), Finding(8, 21, Label.EMAIL, 1, "t")]
    pol = Policy(operator="mask", per_label={Label.EMAIL: "pseudonym"}, key=KEY, drop_density=None)
    out = anonymize(text, fs, pol).text
    assert re.fullmatch(r"\[PERSON\] at <EMAIL_[0-9a-f]{4}>", out)
