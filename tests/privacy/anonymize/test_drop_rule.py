"""The record-drop rule (issue 17 point 4) as tables, and the surrogate's invariants:
never the original value, never what the policy avoids, the same within a record."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optin.errors import ConfigError
from optin.privacy.anonymize import Policy, anonymize
from optin.privacy.anonymize.engine import (
    DROP_DENSITY,
    DROP_LITTLE_TEXT,
    count_words,
    drop_reason,
    real_words,
)
from optin.privacy.anonymize.fakes import FAKERS, REDRAWS, fake, looks_fake
from optin.privacy.findings import Finding, Label

KEY = b"k" * 32


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", 0),
        ("Well deserved.", 2),
        ("Congrats ! Well deserved.", 3),
        ("Call 555 0100 or 12", 2),  # bare numbers are not words
        ("v2 of the plan", 4),  # a run with a letter is
        ("don't stop", 3),  # the apostrophe splits
        ("ありがとうございます", 10),  # each kana counts
        ("谢谢的帮助", 5),  # each Han character counts
        ("连絡先：hi", 4),
        ("Привет, друзья", 2),
        ("مرحبا بالجميع", 2),
        ("สวัสดีครับ", 7),  # Thai: each letter counts, its combining marks do not
        (" | , ; — ", 0),
    ],
)
def test_count_words(text: str, words: int) -> None:
    assert count_words(text) == words


def _words_by_definition(text: str) -> int:
    """The definition on ASCII text, word by word: a run of letters and digits that holds
    a letter."""
    runs = "".join(c if c.isascii() and c.isalnum() else " " for c in text).split()
    return sum(1 for r in runs if any(c.isalpha() for c in r))


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="ab Z09_-.'\n\t,", max_size=40))
def test_count_words_on_ascii_text_follows_the_definition(text: str) -> None:
    # the ASCII fast path counts in C; it must agree with the word-by-word definition
    assert count_words(text) == _words_by_definition(text)


def _spans(text: str, *values: str) -> list[Finding]:
    out = []
    for v in values:
        i = text.index(v)
        out.append(Finding(i, i + len(v), Label.PERSON, 0.9, "t"))
    return sorted(out, key=lambda f: f.start)


@pytest.mark.parametrize(
    ("text", "redacted", "left", "reason"),
    [
        # a contact card: nothing of the member's own text is left
        (
            "Jane Roe | +1 415 867 5309 | jane@roe.io",
            ("Jane Roe", "+1 415 867 5309", "jane@roe.io"),
            0,
            DROP_LITTLE_TEXT,
        ),
        ("Jane Roe!", ("Jane Roe",), 0, DROP_LITTLE_TEXT),
        ("Thanks Jane Roe!", ("Jane Roe",), 1, DROP_LITTLE_TEXT),
        ("Congrats Elizabeth Moreau, well done", ("Elizabeth Moreau",), 3, None),
        ("Congrats Elizabeth! Well deserved.", ("Elizabeth",), 3, None),
        # one or two spans in an ordinary post: always kept (the density rule dropped these)
        (
            "Questions to jane@roe.io or +1 415 867 5309 please",
            ("jane@roe.io", "+1 415 867 5309"),
            4,
            None,
        ),
        ("谢谢许娟的帮助", ("许娟",), 5, None),
    ],
)
def test_drop_rule_table(
    text: str, redacted: tuple[str, ...], left: int, reason: str | None
) -> None:
    fs = _spans(text, *redacted)
    assert real_words(text, fs) == left
    policy = Policy(drop_density=None, min_real_words=3)
    r = anonymize(text, fs, policy)
    assert (r.drop_reason, r.dropped, r.real_words) == (reason, reason is not None, left)


def test_nothing_redacted_is_never_dropped_by_the_rule() -> None:
    r = anonymize("ok", [], Policy(drop_density=None, min_real_words=3))
    assert not r.dropped and r.drop_reason is None  # short texts are the quality step's


@pytest.mark.parametrize(
    ("density", "words", "drop_density", "min_words", "reason"),
    [
        (0.9, 50, 0.25, 3, DROP_DENSITY),  # the density test comes first
        (0.9, 50, None, 3, None),
        (0.1, 2, None, 3, DROP_LITTLE_TEXT),
        (0.1, 3, None, 3, None),
        (0.1, 0, None, None, None),  # both off: nothing is dropped
        (0.26, 2, 0.25, 3, DROP_DENSITY),
    ],
)
def test_drop_reason_table(
    density: float, words: int, drop_density: float | None, min_words: int | None, reason: str
) -> None:
    assert drop_reason(density, words, drop_density=drop_density, min_real_words=min_words) == (
        reason
    )


@pytest.mark.parametrize("bad", [0, -1])
def test_when_min_real_words_out_of_range_then_config_error(bad: int) -> None:
    with pytest.raises(ConfigError, match=r"min_real_words .* allowed: >= 1 or None"):
        Policy(min_real_words=bad)


# -- surrogates ----------------------------------------------------------------------

VALUES = st.text(
    alphabet=st.characters(codec="utf-8", categories=["L", "N", "P", "Zs"]),
    min_size=1,
    max_size=30,
)
LABELS = st.sampled_from([Label.PERSON, *FAKERS])


@settings(max_examples=400, deadline=None)
@given(value=VALUES, label=LABELS, seed=st.binary(min_size=1, max_size=32))
def test_surrogate_never_equals_the_original(value: str, label: Label, seed: bytes) -> None:
    out = fake(value, label, seed)
    assert out.casefold() != value.casefold()


@settings(max_examples=200, deadline=None)
@given(value=VALUES, label=LABELS, seed=st.binary(min_size=1, max_size=32))
def test_surrogate_never_what_the_policy_avoids(value: str, label: Label, seed: bytes) -> None:
    banned: set[str] = set()

    def avoid(v: str) -> bool:
        return v in banned

    for _ in range(3):  # ban each fake in turn: the next draw is another, never a banned one
        out = fake(value, label, seed, avoid=avoid)
        assert out.casefold() != value.casefold()
        if out == f"[{label}]":  # every draw was banned (or equal): the type tag, final
            break
        assert out not in banned
        banned.add(out)


def test_when_every_draw_is_avoided_then_the_type_tag() -> None:
    calls: list[str] = []

    def avoid(v: str) -> bool:
        calls.append(v)
        return True

    assert fake("Jane Roe", Label.PERSON, b"s", avoid=avoid) == "[PERSON]"
    assert len(calls) == REDRAWS


@settings(max_examples=150, deadline=None)
@given(
    name=st.sampled_from(["Zqxjane Vortmann", "Amaka Obi", "Jun Sato", "Hope Grace"]),
    filler=st.lists(st.sampled_from(["we", "met", "and", "again", "today"]), max_size=4),
)
def test_surrogate_is_consistent_within_a_record(name: str, filler: list[str]) -> None:
    mid = " ".join(["said", *filler, "to"])
    text = f"{name} {mid} {name.upper()} and {name}."
    fs, start = [], 0
    for v in (name, name.upper(), name):
        i = text.index(v, start)
        fs.append(Finding(i, i + len(v), Label.PERSON, 0.9, "t"))
        start = i + len(v)
    out = anonymize(text, fs, Policy(operator="surrogate", key=KEY, drop_density=None)).text
    assert name not in out and name.upper() not in out
    first = out.split(" said")[0]
    assert out.count(first) == 3, out  # the same fake at all three mentions
    assert looks_fake(first, Label.PERSON)


def test_surrogates_do_not_link_one_person_across_records() -> None:
    policy = Policy(operator="surrogate", key=KEY, drop_density=None)
    fakes = set()
    for i in range(12):
        text = f"Post {i}: lunch with Zqxjane Vortmann"
        f = Finding(text.index("Zqx"), len(text), Label.PERSON, 0.9, "t")
        out = anonymize(text, [f], policy).text
        assert out == anonymize(text, [f], policy).text  # deterministic per record
        fakes.add(out.split("with ")[1])
    assert len(fakes) > 6, fakes  # another fake in (nearly) every record


@pytest.mark.parametrize(
    ("value", "label", "fake_shaped"),
    [
        ("maya.young@example.com", Label.EMAIL, True),  # RFC 2606
        ("+1 720-555-0134", Label.PHONE, True),  # NANP range reserved for fiction
        ("198.51.100.7", Label.IP_ADDRESS, True),  # RFC 5737
        ("Maya Olsen", Label.PERSON, True),  # surrogate word lists
        ("@rafael_b2b3", Label.HANDLE, True),
        ("maya.young@mailbox.org", Label.EMAIL, False),
        ("+1 720-867-5309", Label.PHONE, False),
        ("Zqxjane Vortmann", Label.PERSON, False),
        ("@zqxvort", Label.HANDLE, False),
    ],
)
def test_looks_fake_table(value: str, label: Label, fake_shaped: bool) -> None:
    """What ``snapshot verify`` takes for a surrogate in a surrogate snapshot."""
    assert looks_fake(value, label) is fake_shaped
