"""The phone recognizer's region pre-filter never changes which region validates.

``_valid`` skips a region without parsing when the candidate's digits cannot form a
valid number there (``_may_be_valid``). The straightforward computation parses in every
region of the list, in order; both must name the same first region (or none).
"""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optin.privacy.detect.recognizers.phone import _REGIONS, _may_be_valid, _valid


def _every_region(candidate: str, regions: tuple[str, ...]) -> str | None:
    s = candidate.strip()
    if s.startswith("+") or s.startswith("00"):
        return _valid.__wrapped__(s, regions)
    for region in regions:
        try:
            num = phonenumbers.parse(s, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(num):
            return region
    return None


EXAMPLES = [
    "020 7946 0958",  # GB with a national prefix
    "(555) 234-5678",
    "212 555 0100",
    "1 212 555 0100",  # NANPA with the country code, no "+"
    "011 44 20 7946 0958",  # US international dialling prefix
    "06 12 34 56 78",  # FR
    "0612345678",
    "01512 3105271",  # DE is not in the list: must stay unvalidated
    "081231 32864",  # IN
    "6100267000210",  # AU: country code, then a national prefix twice
    "1112724876010",
    "(11) 98765-4321",  # BR
    "0 21 98765 4321",
    "4044591515",
    "91 98765 43210",
    "1234567",
]


@pytest.mark.parametrize("candidate", EXAMPLES)
def test_prefilter_keeps_the_region_of_parsing_everywhere(candidate: str) -> None:
    assert _valid.__wrapped__(candidate, _REGIONS) == _every_region(candidate, _REGIONS)


_DIGITS = st.text("0123456789", min_size=7, max_size=15)
_SEPARATED = st.lists(
    st.tuples(st.text("0123456789", min_size=1, max_size=4), st.sampled_from(["", " ", "-", "."])),
    min_size=2,
    max_size=6,
).map(lambda parts: "".join(d + s for d, s in parts).strip(" -."))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_DIGITS, _SEPARATED, _DIGITS.map(lambda d: "1" + d[:10])))
def test_prefilter_equals_parsing_in_every_region(candidate: str) -> None:
    assert _valid.__wrapped__(candidate, _REGIONS) == _every_region(candidate, _REGIONS)


@given(_DIGITS, st.sampled_from(_REGIONS))
@settings(max_examples=300, deadline=None)
def test_a_skipped_region_never_validates(digits: str, region: str) -> None:
    if _may_be_valid(digits, region):
        return
    try:
        num = phonenumbers.parse(digits, region)
    except phonenumbers.NumberParseException:
        return
    assert not phonenumbers.is_valid_number(num)
