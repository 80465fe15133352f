"""The round-2 speed paths give exactly what the plain computations give.

* :class:`optin.privacy.detect.tagger.Scorer` equals ``model.score(features(...))`` bit for
  bit (same additions in the same order);
* ``resolve_overlaps`` returns non-overlapping candidates sorted without ranking them:
  equal to the documented rule, written out here on its own;
* ``person_model`` shares the analyzer's org/location/date recognizers: equal to a
  ``person_model`` running its own;
* ``analyze_redactable`` skips a keep-only recognizer whose declared ``max_score`` is
  below every redactable candidate: equal to ``redactable(analyze(text))``, and no
  finding of those recognizers scores above what they declare.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optin.privacy.detect import Analyzer, create, resolve_overlaps
from optin.privacy.detect.recognizers.person_model import PersonModelRecognizer, default_rules
from optin.privacy.detect.recognizers.person_model import rule_tags as rule_tags_of
from optin.privacy.detect.tagger import (
    Scorer,
    doc_case,
    features,
    genre,
    lexicon_info,
    load_model,
    tokenize,
)
from optin.privacy.findings import Finding, Label

TEXTS = [
    "",
    "!!!",
    "Thanks to Dr. Jane Roe for the talk in London on 12 May 2021 at Acme Ltd.",
    "congrats priya and OMAR!! lol see u @jroe",
    "Mr. O'Sullivan met İlkay Gündoğan and Jan de Vries in Rua das Flores 123.",
    "SSN 123-45-6789, NINO AB 12 34 56 C, DNI 12345678Z, PAN ABCPE1234F, Aadhaar 2345 6789 0123",
    "passport no. M62225531; BSN 111222333; NIR 1 85 05 78 006 084 36",
    "JANE DOE\nName: Rose\nPosted by: kim_1\n" * 3,
    "Reid, Webb and Alvarez LLP v. Smith: hearing on 3 June 2019, Strasbourg.",
    "call +44 20 7946 0958 or mail jane.roe@example.com, 192.168.1.20:8080",
]

_WORDS = st.sampled_from(
    [
        "Jane", "Roe", "jane", "London", "Acme", "Ltd", "in", "on", "May", "2021", "12",
        "Dr.", "Mr", "thanks", "to", "Paris", "Smith", ",", ".", "!", "and", "@jroe", "lol",
        "SSN", "123-45-6789", "AB123456C", "12345678Z", "ABCPE1234F", "2345 6789 0123",
        "passport", "M62225531", "BSN", "111222333", "Name:", "İlkay", "O'Sullivan", "de",
        "Vries", "GRACE", "Will", "\n", "Aadhaar", "id", "1850578006084",
    ]
)  # fmt: skip
_TEXT = st.lists(_WORDS, max_size=30).map(" ".join)


# -- the tagger's scorer --------------------------------------------------------------------

_MODEL = load_model()
_RULES = default_rules()


def _scores_both(text: str) -> tuple[list[float], list[float]]:
    tokens = tokenize(text)
    info = lexicon_info(tokens)
    rules = rule_tags_of(text, tokens, _RULES)
    style, case = genre(text), doc_case(tokens)
    idx = list(range(len(tokens)))
    plain = [_MODEL.score(features(tokens, i, info, rules, style, case)) for i in idx]
    return Scorer(_MODEL).scores(tokens, idx, info, rules, style, case), plain


@pytest.mark.parametrize("text", TEXTS)
def test_when_scorer_scores_a_text_then_every_score_is_the_models_own(text: str) -> None:
    fast, plain = _scores_both(text)
    assert fast == plain  # exact float equality, not approximate


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_TEXT)
def test_scorer_equals_model_score_of_features(text: str) -> None:
    fast, plain = _scores_both(text)
    assert fast == plain


def test_when_one_scorer_sees_many_texts_then_its_tables_do_not_leak_between_them() -> None:
    scorer = Scorer(_MODEL)
    for text in TEXTS * 2:
        tokens = tokenize(text)
        info = lexicon_info(tokens)
        rules = rule_tags_of(text, tokens, _RULES)
        style, case = genre(text), doc_case(tokens)
        idx = list(range(len(tokens)))
        plain = [_MODEL.score(features(tokens, i, info, rules, style, case)) for i in idx]
        assert scorer.scores(tokens, idx, info, rules, style, case) == plain


# -- overlaps -------------------------------------------------------------------------------


def _rule(findings: list[Finding]) -> list[Finding]:
    """The documented rule, plainly: rank by score, length, start, label, recognizer
    (then explanation), keep what overlaps nothing kept, sort by position."""
    ranked = sorted(
        set(findings),
        key=lambda f: (-f.score, -(f.end - f.start), f.start, str(f.label), f.recognizer,
                       f.explanation),
    )  # fmt: skip
    kept: list[Finding] = []
    for f in ranked:
        if all(f.end <= k.start or k.end <= f.start for k in kept):
            kept.append(f)
    return sorted(kept, key=lambda f: (f.start, f.end))


_FINDING = st.builds(
    lambda s, n, label, score, rec: Finding(s, s + n, label, score, rec, "x"),
    st.integers(0, 40),
    st.integers(1, 8),
    st.sampled_from([Label.PERSON, Label.EMAIL, Label.ORG, Label.LOCATION]),
    st.sampled_from([0.5, 0.7, 0.9]),
    st.sampled_from(["a", "b"]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_FINDING, max_size=12))
def test_resolve_overlaps_follows_the_documented_rule(findings: list[Finding]) -> None:
    assert resolve_overlaps(findings) == _rule(findings)


@given(st.lists(st.tuples(st.integers(0, 4), st.integers(1, 5)), max_size=10))
def test_when_no_two_candidates_overlap_then_all_are_kept_sorted(
    gaps: list[tuple[int, int]],
) -> None:
    findings, pos = [], 0
    for gap, size in gaps:
        findings.append(Finding(pos + gap, pos + gap + size, Label.PERSON, 0.7, "p", ""))
        pos += gap + size
    assert resolve_overlaps(list(reversed(findings))) == findings


# -- person_model sharing the analyzer's rule recognizers -------------------------------------


def test_when_accurate_analyzer_is_built_then_person_model_uses_its_recognizers() -> None:
    an = Analyzer("accurate")
    pm = next(r for r in an.recognizers if isinstance(r, PersonModelRecognizer))
    inner = pm.inner_recognizers
    shared = {type(r).__name__ for r in inner if any(r is o for o in an.recognizers)}
    assert shared == {"OrgRecognizer", "LocationRecognizer", "DateTimeRecognizer"}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_TEXT)
def test_shared_rule_recognizers_give_the_findings_of_a_standalone_person_model(
    text: str,
) -> None:
    an = Analyzer("accurate")
    alone = PersonModelRecognizer()  # its own rule recognizers, nothing shared
    shared = next(r for r in an.recognizers if r.name == "person_model")
    for t in (text, text + " Jane", text):  # the remembered last text changes, then back
        assert list(shared.find(t)) == list(alone.find(t))
        assert an.analyze(t) == Analyzer("accurate").analyze(t)


@pytest.mark.parametrize("text", TEXTS)
def test_when_accurate_runs_then_findings_equal_an_unshared_analyzer(text: str) -> None:
    an = Analyzer("accurate")
    plain = Analyzer("accurate")
    for r in plain.recognizers:  # undo the sharing: fresh rule recognizers, not remembered
        if r.name == "person_model":
            r.inner_recognizers[:] = default_rules()  # type: ignore[attr-defined]
    assert an.analyze(text) == plain.analyze(text)
    assert an.analyze_redactable(text) == plain.analyze_redactable(text)


# -- keep-only recognizers skipped below the redactable candidates' scores ------------------

_KEEP_ONLY = ("location", "date_time", "org")
_PLAIN = {name: Analyzer(name) for name in ("default", "strict", "accurate")}


@pytest.mark.parametrize("name", _KEEP_ONLY)
def test_when_a_recognizer_declares_max_score_then_no_finding_scores_higher(name: str) -> None:
    rec = create(name)
    ceiling = type(rec).__dict__["max_score"]
    corpus = [
        *TEXTS,
        "Visit Paris, France and New South Wales; Lyon in May.",
        "Acme Ltd, Barnes, Barnes and Johnson LLP, Ford's plant, Reid, Webb and Alvarez",
        "born 12/03/1985, Monday 3 June 2019 at 10:30 am, since 1999, 2021-05-04T10:00",
    ]
    for text in corpus:
        assert all(f.score <= ceiling for f in rec.find(text)), text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_TEXT, st.sampled_from(_KEEP_ONLY))
def test_declared_max_score_holds_on_any_text(text: str, name: str) -> None:
    rec = create(name)
    assert all(f.score <= type(rec).__dict__["max_score"] for f in rec.find(text))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_TEXT, st.sampled_from(sorted(_PLAIN)))
def test_skipping_low_scoring_keep_only_recognizers_never_changes_the_result(
    text: str, profile: str
) -> None:
    an = _PLAIN[profile]
    assert an.analyze_redactable(text) == an.redactable(an.analyze(text))


@pytest.mark.parametrize("profile", sorted(_PLAIN))
@pytest.mark.parametrize("text", TEXTS)
def test_when_redacting_a_table_text_then_skips_change_nothing(text: str, profile: str) -> None:
    an = _PLAIN[profile]
    assert an.analyze_redactable(text) == an.redactable(an.analyze(text))
