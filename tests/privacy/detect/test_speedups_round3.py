"""The round-3 speed paths give exactly what the plain computations give.

* the slot-cue test on the word before a capitalised word is remembered per distinct
  string: equal to the computation written out, on first and repeated calls;
* the phone recognizer turns on phonenumbers' own pattern cache: validation of numbers
  from many regions is unchanged (the same regions, in the same order).
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from optin.privacy.detect import create
from optin.privacy.detect.recognizers.person import slots
from optin.privacy.detect.recognizers.phone import _REGIONS, _valid


def _plain(raw: str) -> bool:
    return raw.rsplit("\n", 1)[-1].lower().strip(slots._PUNCT) in slots._SLOT_LAST


_WORDS = st.sampled_from([*sorted(slots._SLOT_LAST), "Hi", "THANKS", "ΣΑΣ", "İ", "x"])


@given(
    st.lists(st.one_of(_WORDS, st.text(max_size=6)), max_size=3).map(" ".join),
    st.sampled_from(["", ",", "!", "\n", '"', "("]),
)
def test_ends_cue_equals_plain(word: str, punct: str) -> None:
    raw = word + punct
    assert slots._ends_cue(raw) is _plain(raw)
    assert slots._ENDS_CUE[raw] is _plain(raw)  # the remembered answer, as a repeat sees it


def test_phone_validation_unchanged_by_pattern_cache() -> None:
    numbers = ["+44 20 7946 0958", "030 901820", "(415) 555-2671", "+81 3-1234-5678",
               "06 12 34 56 78", "0049 30 1234567", "12345", "+1 202 555 0143"]  # fmt: skip
    plain = []
    for n in numbers:
        _valid.cache_clear()
        plain.append(_valid(n, _REGIONS))
    create("phone")  # turns the pattern cache on
    _valid.cache_clear()
    assert [_valid(n, _REGIONS) for n in numbers] == plain
