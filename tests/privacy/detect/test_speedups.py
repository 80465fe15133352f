"""The speed paths give exactly what the plain paths give.

``Analyzer.analyze_redactable`` skips recognizers whose findings a profile never
redacts when nothing else was found; scans start at the first place a match can start.
Each is checked against the straightforward computation.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optin.privacy.detect import Analyzer, resolve_overlaps, tagger
from optin.privacy.detect.context import Words, last_words, phrase_suffixes
from optin.privacy.detect.recognizers import date_time, email, gov_id, handle, phone, url
from optin.privacy.detect.recognizers.org import OrgRecognizer
from optin.privacy.detect.scan import digit_runs, lower
from optin.privacy.detect.tagger import social_word
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


# -- issue 17 point 7, second round: faster forms of patterns, each against its definition


def _spans(pattern: re.Pattern[str], text: str, *bounds: int) -> list[tuple[int, int]]:
    return [m.span() for m in pattern.finditer(text, *bounds)]


# the handle patterns as first written (look-behind first): the definition
_HANDLE_DEF = re.compile(
    r"(?<![\w@.+\-/])@([A-Za-z0-9_](?:[A-Za-z0-9_.]{0,38}[A-Za-z0-9_])?)"
    r"(?:(?![\w@])|(?=[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]))"
)
_PAN_DEF = re.compile(r"(?<![\w\-])[A-Z]{3}[PCHFATBLJG][A-Z]\d{4}[A-Z](?![\w\-])")
_HANDLE_PARTS = st.sampled_from(
    ["@", "a", "Z", "9", "_", ".", "-", "+", "/", "@x.com", "さん", " ", "\n", "é", "jane"]
)
_PAN_PARTS = st.sampled_from(["A", "B", "P", "1", "2", "-", "x", " ", "\n", "ABCPD1234E", "_"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_HANDLE_PARTS, max_size=12).map("".join), st.integers(0, 3))
def test_moved_look_behind_handle_pattern_matches_as_written(text: str, cut: int) -> None:
    assert _spans(handle._HANDLE, text) == _spans(_HANDLE_DEF, text)
    assert _spans(handle._HANDLE, text, cut) == _spans(_HANDLE_DEF, text, cut)


@settings(max_examples=300, deadline=None)
@given(st.lists(_PAN_PARTS, max_size=8).map("".join), st.integers(0, 3))
def test_moved_look_behind_pan_pattern_matches_as_written(text: str, cut: int) -> None:
    assert _spans(gov_id._PAN, text) == _spans(_PAN_DEF, text)
    assert _spans(gov_id._PAN, text, cut) == _spans(_PAN_DEF, text, cut)


_CONTEXT_PARTS = st.sampled_from(
    ["phone", "PHONE", "Tel", "telephone", "call", "cell", "ph", "mob", "mobile", "ssn",
     "SS#", "ss no", "Social  Security", "card", "cc", "x", "_", "1", " ", "\n", "-", "é",
     "tél", "TÉL", "ſsn", "ıd", "İd", "uid", "cpf", "sofi-nummer", "no", "No.", "work"]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    st.lists(_CONTEXT_PARTS, max_size=8).map("".join),
    st.integers(0, 20),
    st.integers(0, 20),
    st.sampled_from([phone._CONTEXT, phone._NEGATIVE_CONTEXT, gov_id._SSN_CONTEXT]),
)
def test_words_search_is_the_case_insensitive_pattern(
    text: str, lo: int, cut: int, w: Words
) -> None:
    hi = max(lo, len(text) - cut)
    got, want = w.search(text, lo, hi), w.pattern.search(text, lo, hi)
    assert (got is None) == (want is None)
    assert got is None or want is None or got.span() == want.span()


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["lol", "LOL", "haha", "hahaha_x", "haha'", "I", "i'm", "im", "\u212a", "ſ", "ı",
             "İ", "ok", "Ok!", "fuckin'", "ur", "ür", "x", " ", "'", "é", "hehe9", "1", "_"]
        ),
        max_size=8,
    ).map("".join)
)  # fmt: skip
def test_social_word_is_the_slang_pattern(text: str) -> None:
    assert social_word(text) == (tagger._SOCIAL_WORDS.search(text) is not None)


_MAIL_PARTS = st.sampled_from(
    [
        "jane",
        "@",
        " @ ",
        "@ ",
        " at ",
        "AT",
        "example",
        ".",
        " . ",
        "com",
        "org",
        "dot",
        "mail",
        "contact",
        "x",
        " ",
        "\t",
        "-",
        "_",
        "é",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_MAIL_PARTS, max_size=12).map("".join))
def test_email_hints_skip_only_scans_that_find_nothing(text: str) -> None:
    rec = email.EmailRecognizer()
    at = text.find("@")
    if at >= 0 and email._SPACED_HINT.search(text, at) is None:
        assert list(rec._spaced(text, at)) == []
    if email._AT_WORD_HINT.search(text) is None:
        assert list(rec._at_word(text, lower(text))) == []


@given(st.text(alphabet="MrDs. \tJaneRoe,Prof", max_size=30))
def test_honorific_before_a_position_holds_one_of_the_initials(text: str) -> None:
    from optin.privacy.detect.recognizers.person import recognizer as person

    for end in range(len(text) + 1):
        lo = max(0, end - 12)
        if person._HONORIFIC.search(text, lo, end) is not None:
            assert person._HONORIFIC_INITIAL.search(text, lo, end) is not None


_JP_GATE_DEF = re.compile(r"\d-\d{1,4}-\d|-(?:cho|chō|machi|ku|shi|gun|mura|dori|dōri)\b")
_NUMBER_DEF = re.compile(r"(?<![A-Za-z0-9])[0-9]+(?![A-Za-z0-9])")
_GATE_PARTS = st.sampled_from(
    ["1", "22", "-", "cho", "chō", "ku", "x", " ", "a", "_", "\n", "dori", "9-9-9", "é", "²",
     "Ⅳ", "ab-cd", "abc\n", "id", "passport", "licen", "personal number", "Cédula"]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(_GATE_PARTS, max_size=9).map("".join))
def test_gates_and_counts_find_what_their_definitions_find(text: str) -> None:
    from optin.privacy.anonymize.engine import _ASCII_NUMBER
    from optin.privacy.detect.recognizers import street_address
    from optin.privacy.detect.recognizers.person.rules import ALPHA, alpha

    assert (street_address._JP_GATE.search(text) is None) == (_JP_GATE_DEF.search(text) is None)
    low = lower(text)
    keys = gov_id._DOC_KEYS
    assert (gov_id._DOC_KEYS_ANY.search(low) is None) == (not any(k in low for k in keys))
    assert _ASCII_NUMBER.findall(text) == _NUMBER_DEF.findall(text)
    for word in text.split(" "):
        assert alpha(word) == (ALPHA.match(word) is not None)


_SHOUT_DEF = re.compile(r"\b[A-Z]{2,}[ \t]+[A-Z]{2,}[ \t]+[A-Z]{2,}\b")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["AB", "CDE", "A", " ", "\t", "x", "_", "1", "É"]), max_size=10))
def test_shout_pattern_finds_what_its_definition_finds(parts: list[str]) -> None:
    text = "".join(parts)
    assert (tagger._SHOUT.search(text) is None) == (_SHOUT_DEF.search(text) is None)
