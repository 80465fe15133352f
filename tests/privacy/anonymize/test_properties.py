"""Hypothesis invariants of anonymize()."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from optin.privacy.anonymize import Policy, anonymize
from optin.privacy.findings import Finding, Label

KEY = b"k"
WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8)
FILLER = st.lists(WORD, min_size=0, max_size=4).map(lambda ws: " " + " ".join(ws) + " ")
SECRETS = [
    ("Zqxjane Vortmann", Label.PERSON),
    ("zqx.vort@corp.io", Label.EMAIL),
    ("+44 20 7946 0958", Label.PHONE),
    ("@zqxvort", Label.HANDLE),
    ("4111 1111 1111 1111", Label.CREDIT_CARD),
    ("10.9.8.7", Label.IP_ADDRESS),
]
SECRET = st.sampled_from(SECRETS)
OPERATORS = st.sampled_from(["mask", "pseudonym", "surrogate"])


@st.composite
def documents(draw: st.DrawFn) -> tuple[str, list[Finding]]:
    pieces = draw(st.lists(st.tuples(FILLER, SECRET), min_size=0, max_size=6))
    text, findings = "", []
    for filler, (secret, label) in pieces:
        text += filler
        findings.append(Finding(len(text), len(text) + len(secret), label, 0.9, "t"))
        text += secret
    text += draw(FILLER)
    return text, findings


def detect_fake(text: str) -> list[Finding]:
    """A stand-in detector that finds the SECRET values wherever they occur."""
    out = []
    for secret, label in SECRETS:
        out += [
            Finding(m.start(), m.end(), label, 0.9, "t")
            for m in re.finditer(re.escape(secret), text)
        ]
    return out


@settings(max_examples=150, deadline=None)
@given(documents(), OPERATORS)
def test_redacted_text_contains_no_original_value(doc: tuple[str, list[Finding]], op: str) -> None:
    text, findings = doc
    r = anonymize(text, findings, Policy(operator=op, key=KEY, drop_density=None))
    for f in r.applied:
        value = text[f.start : f.end]
        if len(value) >= 3:
            assert value not in r.text


@settings(max_examples=150, deadline=None)
@given(documents(), OPERATORS, st.binary(min_size=1, max_size=8))
def test_applied_spans_within_bounds_sorted_disjoint(doc: tuple, op: str, key: bytes) -> None:
    text, findings = doc
    r = anonymize(text, findings, Policy(operator=op, key=key, drop_density=None))
    prev = 0
    for f in r.applied:
        assert prev <= f.start < f.end <= len(text)
        prev = f.end
    assert 0.0 <= r.density <= 1.0


@settings(max_examples=150, deadline=None)
@given(documents(), st.sampled_from(["mask", "pseudonym", "keep"]))
def test_redaction_is_idempotent(doc: tuple, op: str) -> None:
    text, findings = doc
    pol = Policy(operator=op, key=KEY, drop_density=None)
    once = anonymize(text, findings, pol).text
    twice = anonymize(once, detect_fake(once), pol).text
    assert twice == once


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=1, max_value=30), OPERATORS)
def test_every_occurrence_is_replaced(n: int, op: str) -> None:
    text = " and ".join(["Zqxjane Vortmann wrote zqx.vort@corp.io"] * n)
    r = anonymize(text, detect_fake(text), Policy(operator=op, key=KEY, drop_density=None))
    assert "Zqxjane" not in r.text and "Vortmann" not in r.text and "zqx.vort" not in r.text
    if op != "surrogate":
        assert len(set(re.findall(r"<PERSON_[0-9a-f]+>|\[PERSON\]", r.text))) == 1


@settings(max_examples=80, deadline=None)
@given(WORD, st.binary(min_size=1, max_size=16), st.binary(min_size=1, max_size=16))
def test_pseudonym_consistent_within_key_and_differs_across(
    name: str, k1: bytes, k2: bytes
) -> None:
    text = f"{name} and {name.upper()}"
    fs = [
        Finding(0, len(name), Label.PERSON, 1, "t"),
        Finding(len(name) + 5, 2 * len(name) + 5, Label.PERSON, 1, "t"),
    ]
    a = anonymize(
        text, fs, Policy(operator="pseudonym", key=k1, tag_hex_len=16, drop_density=None)
    ).text
    left, right = a.split(" and ")
    assert left == right
    if k1 != k2:
        b = anonymize(
            text, fs, Policy(operator="pseudonym", key=k2, tag_hex_len=16, drop_density=None)
        ).text
        assert a != b
