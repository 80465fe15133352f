"""Person names, round 3: fields and products are not persons; social-post tagging."""

from __future__ import annotations

import pytest

from optin.privacy.detect import Analyzer, create
from optin.privacy.detect.recognizers.person_model import PersonModelRecognizer
from optin.privacy.detect.tagger import TaggerModel, doc_case, genre, load_model, tokenize
from optin.privacy.findings import Label

DEFAULT = Analyzer("default")
ACCURATE = Analyzer("accurate")


def _names(analyzer: Analyzer, text: str) -> list[str]:
    return [text[f.start : f.end] for f in analyzer.analyze(text) if f.label is Label.PERSON]


# a word before a job-role noun, or a CamelCase product/tech word: never a person
ROLE_AND_PRODUCT_NEGATIVES = [
    "Looking for DevOps Engineer roles",
    "Looking for DevOps roles in Berlin",
    "We need a Salesforce Developer and a Kubernetes Architect.",
    "Ask on GitHub or read the JavaScript docs",
    "Hiring: Senior Frontend Engineer, Backend Developer",
    "I love my iPhone and my MacBook",
    "Our Growth Manager and Data Scientist are remote",
]


@pytest.mark.parametrize("text", ROLE_AND_PRODUCT_NEGATIVES)
@pytest.mark.parametrize("profile", ["default", "strict", "accurate"])
def test_when_word_is_a_field_or_product_then_no_person(text: str, profile: str) -> None:
    analyzer = {"default": DEFAULT, "accurate": ACCURATE}.get(profile) or Analyzer(profile)
    assert _names(analyzer, text) == []


# names with internal capitals, or known names before a role noun, stay persons
NAME_POSITIVES = [
    ("Thanks to McDonald for the review", "McDonald"),
    ("The report by DeVries was late", "DeVries"),
    ("LeBron James scored 40", "LeBron James"),
    ("Ask Dr. MacArthur about it", "MacArthur"),
    ("Contact Jordan Smith, Lead Designer", "Jordan Smith"),
    ("Please welcome Priya, our new Data Scientist", "Priya"),
]


@pytest.mark.parametrize(("text", "name"), NAME_POSITIVES)
def test_when_name_has_internal_capital_or_role_then_it_stays_a_person(
    text: str, name: str
) -> None:
    found = _names(DEFAULT, text)
    assert any(name in f or f in name for f in found), f"{name!r} not in {found}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("wow emma and kaite are so cute", "social"),
        ("hhaahaa 😂 martin short great", "social"),
        ("lol that was Ryan", "social"),
        ("THIS IS SO GOOD", "social"),
        ("Great game!! Kenny was on fire", "social"),
        ("Krisztián Szöllösy listed his top 20 songs.", "short"),
        ("The applicant, Olubukunola Obasa, is a national of Nigeria.", "short"),
        ("The Court notes that the applicant was born in 1970. " * 10, "long"),
    ],
)
def test_when_text_is_classified_then_genre_follows_cheap_cues(text: str, expected: str) -> None:
    assert genre(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("wow emma and kaite are so cute", "lc"),
        ("THIS IS SO GOOD FOR YOU", "uc"),
        ("Met Jane at the Berlin office today", "mx"),
        ("hi", "mx"),
    ],
)
def test_when_doc_case_is_computed_then_capital_use_is_classified(text: str, expected: str) -> None:
    assert doc_case(tokenize(text)) == expected


def test_when_model_has_genre_thresholds_then_recognizer_uses_them() -> None:
    model = load_model()
    assert set(model.thresholds) == {"social", "short", "long"}
    text = "wow emma and kaite are so cute 😀"
    # an impossible threshold for social posts silences the tagger on them only
    strict = TaggerModel(model.weights, model.threshold, {**model.thresholds, "social": 1e9})
    rec = PersonModelRecognizer(model=strict)
    assert list(rec.find(text)) == []
    assert list(rec.find("Thanks to Dr. Jane Roe for the talk.")) != []
    # a fixed threshold overrides the model's per-genre ones
    loose = PersonModelRecognizer(threshold=-1e9)
    assert len(list(loose.find(text))) >= 1


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("wow emma and ryan are so cute", "emma"),
        ("miss you so much Kenny , come back !", "Kenny"),
        ("Everyday I ' m more thankful that Hillary Clinton lost lol", "Hillary Clinton"),
    ],
)
def test_when_social_post_names_a_person_then_accurate_finds_it(text: str, name: str) -> None:
    found = _names(ACCURATE, text)
    assert any(name in f or f in name for f in found), f"{name!r} not in {found}"


def test_when_accurate_tagger_runs_then_it_is_deterministic_and_small() -> None:
    rec = create("person_model")
    text = "lol emma and ryan went to see LeBron James 😂"
    assert list(rec.find(text)) == list(rec.find(text))
    assert len(load_model().weights) < 50_000
