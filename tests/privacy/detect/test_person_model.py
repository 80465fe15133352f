"""The statistical name tagger and the ``accurate`` profile that uses it."""

from __future__ import annotations

from optin.privacy.detect import Analyzer, create
from optin.privacy.detect.tagger import candidate, features, lexicon_info, load_model, tokenize
from optin.privacy.findings import Label
from optin.privacy.profiles import get_profile


def test_when_model_is_loaded_then_it_is_small_and_has_a_threshold() -> None:
    model = load_model()
    assert 100 < len(model.weights) < 200_000
    assert isinstance(model.threshold, float)


def test_when_accurate_profile_is_used_then_names_come_from_the_tagger() -> None:
    assert "person_model" in get_profile("accurate").recognizers
    assert "person" not in get_profile("accurate").recognizers
    a = Analyzer("accurate")
    text = "Thanks to Dr. Jane Roe for the talk, and congrats Priya on the launch!"
    names = {text[f.start : f.end] for f in a.analyze(text) if f.label is Label.PERSON}
    assert "Jane Roe" in names and "Priya" in names
    assert all(f.recognizer == "person_model" for f in a.analyze(text) if f.label is Label.PERSON)


def test_when_text_has_no_names_then_tagger_stays_silent() -> None:
    rec = create("person_model")
    for text in (
        "Version 2.3.1 was released in 2021 for $1,299.99",
        "The Government of the United Kingdom replied on 3 May 2004.",
        "",
        "!!!",
    ):
        found = [text[f.start : f.end] for f in rec.find(text)]
        assert found == [], f"flagged {found} in {text!r}"


def test_when_tagger_runs_twice_then_findings_are_identical() -> None:
    rec = create("person_model")
    text = "mika said hi to tracy and Olubukunola Obasa yesterday"
    assert list(rec.find(text)) == list(rec.find(text))
    for f in rec.find(text):
        assert 0.5 < f.score <= 0.95 and 0 <= f.start < f.end <= len(text)


def test_when_features_are_made_then_names_are_never_features() -> None:
    tokens = tokenize("yesterday Olubukunola met the judge")
    info = lexicon_info(tokens)
    rules = [""] * len(tokens)
    feats = features(tokens, 1, info, rules)
    assert not any("olubukunola" in f for f in feats)
    assert "w=yesterday" in features(tokens, 0, info, rules)
    assert not candidate("the", info[3][0]) and candidate("Olubukunola", info[1][0])
