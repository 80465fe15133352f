"""Shared per-text scans and the windowed recognizers: windows never lose a match.

The structured recognizers scan only windows around digit runs (``scan``); these
properties check that they find exactly what one scan of the whole text finds.
"""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optin.privacy.detect import scan
from optin.privacy.detect.recognizers import credit_card, date_time, iban, ip_address, phone

NUMBERY = st.text(alphabet="0123456789 -./()+:ABGDEMayJnxtcrdphone\n", max_size=90)
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_when_text_has_numbers_then_digit_runs_count_their_digits() -> None:
    text = "call +44 (0)20 7946-0958 or 192.168.0.1 - then 7."
    runs = [(text[s:e], d) for s, e, d in scan.digit_runs(text)]
    assert runs == [("44 (0)20 7946-0958", 13), ("192.168.0.1", 8), ("7", 1)]


def test_when_windows_are_made_then_they_are_sorted_disjoint_and_cover_runs() -> None:
    text = "a 1234 b ccc 5678901 dd 12 eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee 99 f"
    wins = scan.digit_windows(text)
    for (_lo1, hi1, _), (lo2, _, _) in itertools.pairwise(wins):
        assert hi1 < lo2
    for s, e, _ in scan.digit_runs(text):
        assert any(lo <= s and e <= hi for lo, hi, _ in wins)
    assert scan.number_windows(text, 7) == [(lo, hi) for lo, hi, d in wins if d >= 7]


@given(NUMBERY)
@SETTINGS
def test_when_card_numbers_are_windowed_then_nothing_is_lost(text: str) -> None:
    rec = credit_card.CreditCardRecognizer()
    assert set(rec.find(text)) == set(rec._window(text, 0, len(text)))


@given(NUMBERY)
@SETTINGS
def test_when_phone_numbers_are_windowed_then_nothing_is_lost(text: str) -> None:
    rec = phone.PhoneRecognizer()
    assert set(rec.find(text)) == set(rec._window(text, 0, len(text)))


@given(NUMBERY)
@SETTINGS
def test_when_ipv4_is_found_by_digit_runs_then_it_matches_a_full_scan(text: str) -> None:
    full = {
        m.span()
        for m in ip_address._V4.finditer(text)
        if not ip_address._VERSION.search(text, max(0, m.start() - 12), m.start())
    }
    got = {(f.start, f.end) for f in ip_address.IpAddressRecognizer().find(text)}
    assert {s for s in got if text[s[0] : s[1]].count(".") == 3} == full


@given(NUMBERY)
@SETTINGS
def test_when_iban_candidates_come_from_digit_runs_then_they_match_a_full_scan(
    text: str,
) -> None:
    full = [m for m in iban._CANDIDATE.finditer(text)]
    got = {f.start for f in iban.IbanRecognizer().find(text)}
    assert got <= {m.start() for m in full}


@given(st.text(alphabet="0123456789 -/.:,May JunethSeptmbrofinc\n", max_size=80))
@SETTINGS
def test_when_dates_are_found_in_pieces_then_they_match_one_full_scan(text: str) -> None:
    full = set()
    for m in date_time._DATE.finditer(text):
        s, e = m.start(), m.end()
        if m.group(0).split()[0].lower() in ("in", "since", "until", "from", "by", "of", "year"):
            s = e - 4
        full.add((s, e))
    got = {(f.start, f.end) for f in date_time.DateTimeRecognizer().find(text)}
    assert got == full


def test_when_capitalised_words_are_listed_then_spans_and_words_agree() -> None:
    text = "Thanks to Dr. Jane O'Neil-Roe and Émile from Zürich."
    words = scan.cap_words(text)
    assert words == [text[s:e] for s, e in scan.cap_spans(text)]
    assert words == ["Thanks", "Dr.", "Jane", "O'Neil-Roe", "Émile", "Zürich."]


def test_when_text_has_dotted_capital_i_then_lower_keeps_indices() -> None:
    text = "İstanbul, passport no. M62225531"
    low = scan.lower(text)
    assert len(low) == len(text) and low.endswith("passport no. m62225531")
