"""Detection on a normalised view: invisible characters, NBSP, fullwidth forms and
confusable letters cannot hide personal data, and offsets map back to the original."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optin.privacy.api import Redactor, RedactorConfig
from optin.privacy.detect.unicode_view import _CONFUSABLE, _fold, view

R = Redactor(RedactorConfig(profile="default", drop_density=None))

INVISIBLE = ["\u200b", "\u00ad", "\u2060", "\ufeff", "\u200d", "\u202e", "\x00"]
_ALPHABET = st.sampled_from(
    list("abcjne JDR@.-+0123456789") + INVISIBLE
    + ["\u00a0", "\u202f", "＠", "１", "а", "е", "ο", "名", "Я", "\ud800", "\t", "\n", "𝐣"]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(_ALPHABET, max_size=60).map("".join))
def test_view_maps_every_character_back_to_its_original(text: str) -> None:
    v = view(text)
    if v.pos is None:
        assert v.text == text
        return
    pos = v.pos
    assert len(pos) == len(v.text)
    assert all(a < b for a, b in itertools.pairwise(pos))  # increasing
    assert all(0 <= p < len(text) for p in pos)
    for i, p in enumerate(pos):
        orig = text[p]
        assert v.text[i] in (orig, _fold(orig), _CONFUSABLE.get(orig))
    kept = set(pos)
    for j, ch in enumerate(text):
        if j not in kept:
            assert _fold(ch) == "", f"{ch!r} dropped but is not invisible"


@settings(max_examples=200, deadline=None)
@given(st.lists(_ALPHABET, min_size=1, max_size=40).map("".join), st.data())
def test_view_spans_cover_the_original_characters(text: str, data: st.DataObject) -> None:
    v = view(text)
    n = len(v.text)
    if n == 0:
        return
    s = data.draw(st.integers(0, n - 1))
    e = data.draw(st.integers(s + 1, n))
    a, b = v.span(s, e)
    assert 0 <= a < b <= len(text)
    assert b - a >= e - s


_SECRETS = [
    ("mail jane.doe@example.com today", "jane.doe@example.com"),
    ("call +44 20 7946 0958 please", "+44 20 7946 0958"),
    ("thanks to Jane Roe for the help", "Jane Roe"),
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(_SECRETS),
    st.lists(st.tuples(st.integers(0, 30), st.sampled_from(INVISIBLE)), max_size=3),
)
def test_invisible_characters_inside_pii_never_leave_a_part_visible(
    case: tuple[str, str], inserts: list[tuple[int, str]]
) -> None:
    text, secret = case
    start = text.index(secret)
    chars = list(secret)
    for at, ch in sorted(inserts, reverse=True):
        chars.insert(min(at, len(chars)), ch)
    dirty = text[:start] + "".join(chars) + text[start + len(secret) :]
    out = R.redact(dirty).text
    visible = "".join(c for c in out if _fold(c) != "")
    for part in secret.replace("@", " ").replace(".", " ").split():
        if len(part) >= 3 and not part.isdigit():
            assert part not in visible, (dirty, out)
    assert "7946" not in visible and "0958" not in visible


ADVERSARIAL = [
    ("mail jаne.doe@exаmple.com now", "jаne"),  # Cyrillic а
    ("mail jane.doe@еxample.com", "jane"),  # Cyrillic е
    ("mail jane.dοe@example.com", "jane"),  # Greek ο
    ("mail jane.doe＠example.com", "jane"),  # fullwidth @
    ("mail ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ", "ｊａｎｅ"),  # fullwidth throughout
    ("mail jane\u200b.doe@example.com", "jane"),  # zero-width space
    ("mail jane\u00ad.doe@example.com", "jane"),  # soft hyphen
    ("mail jane\u2060.doe@example.com", "jane"),  # word joiner
    ("mail jane\x00doe@example.com", "jane"),  # NUL
    ("call +44\u00a020\u00a07946\u00a00958", "7946"),  # NBSP between groups
    ("call +44 20 79\u200b46 0958", "0958"),
    ("call ＋４４ ２０ ７９４６ ０９５８", "７９４６"),  # fullwidth digits
    ("Thanks Ja\u200bne Roe!", "Roe"),
]


@pytest.mark.parametrize(("text", "leak"), ADVERSARIAL)
def test_unicode_evasion_does_not_leak(text: str, leak: str) -> None:
    out = R.redact(text).text
    assert leak not in out, out


def test_lone_surrogate_is_replaced_not_a_crash() -> None:
    r = R.redact("x\ud800y mail jane@example.com")
    assert r.text == "x\ufffdy mail [EMAIL]"
    r.text.encode("utf-8")  # valid UTF-8
    batch = R.redact_batch(["a\udfffb", None])
    assert batch.texts.to_pylist() == ["a\ufffdb", None]


@pytest.mark.parametrize(
    "text",
    [
        "Привет всем, встреча в среду.",  # Cyrillic prose: not folded to Latin
        "Καλημέρα σε όλους.",
        "plain ascii text",
    ],
)
def test_text_without_evasion_is_its_own_view(text: str) -> None:
    assert view(text).pos is None


@pytest.mark.parametrize(
    "pattern", ["x@", "\u200bx@", "а@x", "\u00a0x@", "ｘ＠", "x@\x00", "\ud800@x", "1x", "1 "]
)
def test_adversarial_repetitions_redact_without_error(pattern: str) -> None:
    # time per MB is measured in bench/pii_adversarial.py (no timed unit tests)
    text = pattern * 3000
    r = R.redact(text)
    assert len(r.text) > 0
    r.text.encode("utf-8")
