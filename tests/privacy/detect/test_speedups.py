"""The speed paths give exactly what the plain paths give.

``Analyzer.analyze_redactable`` skips recognizers whose findings a profile never
redacts when nothing else was found; scans start at the first place a match can start.
Each is checked against the straightforward computation.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optin.privacy.detect import Analyzer, resolve_overlaps
from optin.privacy.detect.context import last_words, phrase_suffixes
from optin.privacy.detect.recognizers import date_time, url
from optin.privacy.detect.recognizers.org import OrgRecognizer
from optin.privacy.detect.scan import digit_runs, lower
from optin.privacy.findings import Finding, Label
from optin.privacy.profiles import PROFILES

ANALYZERS = {name: Analyzer(name) for name in ("default", "strict")}

TEXTS = [
    "",
    "nothing to see here",
    "Thanks to Dr. Jane Roe for the talk in London on 12 May 2021 at Acme Ltd.",
    "Acme Ltd opened in Paris on Monday.",
    "Born 12/03/1985 in Madrid, Maria Garcia lives at 221B Baker Street.",
    "Mail jane.roe@example.com or see https://linkedin.com/in/janeroe, not acme.com.",
    "Reid, Webb and Alvarez LLP v. Smith: hearing on 3 June 2019, Strasbourg.",
    "call +44 20 7946 0958 or visit www.example.org",
]

_WORDS = st.sampled_from(
    [
        "Jane", "Roe", "London", "Acme", "Ltd", "Inc", "in", "on", "May", "2021", "12",
        "born", "Monday", "Dr.", "thanks", "to", "Paris", "Smith", ",", ".", "and", "@jroe",
        "jane@x.com", "acme.com", "+44 20 7946 0958", "Baker", "Street", "221B", "name:",
    ]
)  # fmt: skip


def _plain(analyzer: Analyzer, text: str) -> list[Finding]:
    return analyzer.redactable(analyzer.analyze(text))


@pytest.mark.parametrize("profile", sorted(ANALYZERS))
@pytest.mark.parametrize("text", TEXTS)
def test_when_analyze_redactable_then_same_as_redactable_of_analyze(
    profile: str, text: str
) -> None:
    an = ANALYZERS[profile]
    assert an.analyze_redactable(text) == _plain(an, text)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_WORDS, max_size=25).map(" ".join), st.sampled_from(sorted(ANALYZERS)))
def test_analyze_redactable_equals_plain_path(text: str, profile: str) -> None:
    an = ANALYZERS[profile]
    assert an.analyze_redactable(text) == _plain(an, text)


def test_when_profile_keeps_labels_then_only_declared_recognizers_are_deferred() -> None:
    def deferred(an: Analyzer) -> set[str]:
        return {r.name for r in an.recognizers if id(r) in an._keep_only}

    assert deferred(ANALYZERS["default"]) == {"org", "location", "date_time"}
    assert deferred(ANALYZERS["strict"]) == {"org"}  # strict redacts places and dates


def test_when_subclass_does_not_redeclare_exact_labels_then_it_is_never_deferred() -> None:
    class LooseOrg(OrgRecognizer):
        name = "loose_org"

    an = Analyzer(PROFILES["default"], recognizers=[LooseOrg(), OrgRecognizer()])
    assert [r.name for r in an.recognizers if id(r) in an._keep_only] == ["org"]


@given(st.text(alphabet="ab .,;:!?()\"'“”\n", max_size=60), st.integers(0, 60))
def test_phrase_suffixes_are_the_joined_last_words(text: str, start: int) -> None:
    start = min(start, len(text))
    ws = last_words(text, start)
    assert phrase_suffixes(text, start) == [" ".join(ws[-k:]) for k in range(1, len(ws) + 1)]


@given(st.text(alphabet="ab1:/.w com", max_size=40))
def test_url_hint_scan_skips_only_characters_where_no_hint_starts(text: str) -> None:
    low = lower(text)
    full = [m.start() for m in url._HINT.finditer(low)]
    got: list[int] = []
    if "." in text:
        start = max(0, low.find(".") - 3)
        scheme = low.find("://", 0, start + 2)
        if 0 <= scheme < start:
            start = scheme
        got = [m.start() for m in url._HINT.finditer(low, start)]
    assert got == (full if "." in text else [])


@given(st.text(alphabet="a 1-/.:3May,th", max_size=40))
def test_date_scan_from_first_digit_matches_full_scan(text: str) -> None:
    runs = digit_runs(text)
    full = [m.span() for m in date_time._DIGIT_DATE.finditer(text)]
    start = runs[0][0] if runs else len(text)
    assert [m.span() for m in date_time._DIGIT_DATE.finditer(text, start)] == full


def test_when_ranks_tie_then_resolve_overlaps_deduplicates() -> None:
    a = Finding(0, 4, Label.PERSON, 0.9, "person", "x")
    b = Finding(2, 6, Label.PERSON, 0.8, "person", "y")
    assert resolve_overlaps([a, b, a]) == [a]
    assert resolve_overlaps([b, a]) == [a]
    assert resolve_overlaps([]) == []
