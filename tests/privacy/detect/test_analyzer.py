"""Analyzer, registry and profile behaviour, plus hypothesis invariants."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optin.errors import ConfigError
from optin.privacy.detect import (
    Analyzer,
    Recognizer,
    create,
    get_recognizer_class,
    recognizer_names,
    register,
    resolve_overlaps,
)
from optin.privacy.findings import Finding, Label
from optin.privacy.profiles import get_profile, profile_names

ANALYZER = Analyzer("default")
STRICT = Analyzer("strict")

SAMPLE = (
    "Thanks to Dr. Jane Roe (@jroe_22) for the talk! Mail JANE.ROE@EXAMPLE.COM or call "
    "+44 20 7946 0958. She lives at 221B Baker Street in London and works at Acme Ltd. "
    "See https://linkedin.com/in/janeroe or https://acme.com. #ai v2.3.1 in 2021 for $99."
)


def test_when_unknown_recognizer_then_config_error_lists_valid_names() -> None:
    with pytest.raises(ConfigError) as exc:
        get_recognizer_class("nope")
    assert "email" in str(exc.value) and "person" in str(exc.value)


def test_when_unknown_profile_then_config_error_lists_valid_names() -> None:
    with pytest.raises(ConfigError) as exc:
        get_profile("lenient")
    for name in profile_names():
        assert name in str(exc.value)


def test_when_third_party_registers_then_analyzer_can_use_it() -> None:
    @register
    class TicketRecognizer(Recognizer):
        name = "test_ticket"
        labels = frozenset({Label.OTHER})

        def find(self, text: str) -> Iterator[Finding]:
            i = text.find("TICKET-")
            if i >= 0:
                yield Finding(i, i + 11, Label.OTHER, 0.9, self.name, "ticket id")

    assert "test_ticket" in recognizer_names()
    a = Analyzer("default", recognizers=[create("test_ticket"), create("email")])
    found = a.analyze("see TICKET-1234 or a@b.io")
    assert [f.recognizer for f in found] == ["test_ticket", "email"]


def test_when_name_is_taken_then_register_refuses() -> None:
    with pytest.raises(ConfigError):

        @register
        class Clash(Recognizer):
            name = "email"


def test_when_sample_analyzed_then_default_redacts_direct_ids_and_keeps_quasi() -> None:
    found = ANALYZER.analyze(SAMPLE)
    red = {SAMPLE[f.start : f.end] for f in ANALYZER.redactable(found)}
    kept = {SAMPLE[f.start : f.end] for f in found} - red
    for want in (
        "Dr. Jane Roe",  # the title is masked with the name
        "@jroe_22",
        "JANE.ROE@EXAMPLE.COM",
        "+44 20 7946 0958",
        "221B Baker Street",
        "https://linkedin.com/in/janeroe",
    ):
        assert want in red
    for keep in ("https://acme.com", "Acme Ltd", "London"):
        assert any(k.startswith(keep) for k in kept)
        assert not any(keep in r for r in red)
    assert "#ai" not in red and "2021" not in red


def test_when_strict_then_locations_dates_and_urls_are_redacted() -> None:
    found = STRICT.analyze(SAMPLE)
    red = {SAMPLE[f.start : f.end] for f in STRICT.redactable(found)}
    assert {"London", "https://acme.com", "2021"} <= red


def test_when_findings_overlap_then_higher_score_then_longer_wins() -> None:
    a = Finding(0, 10, Label.PERSON, 0.6, "person")
    b = Finding(5, 20, Label.EMAIL, 1.0, "email")
    c = Finding(20, 25, Label.PHONE, 0.6, "phone")
    d = Finding(20, 30, Label.PHONE, 0.6, "phone")
    assert resolve_overlaps([a, b, c, d]) == [b, d]


def test_when_analyze_many_then_same_as_analyze() -> None:
    texts = [SAMPLE, "", "nothing here", "call 555-234-5678"]
    assert ANALYZER.analyze_many(texts) == [ANALYZER.analyze(t) for t in texts]


TEXT = st.lists(
    st.sampled_from(
        [*"abcJRM @.:-+0123456789 \n#/()", "Jane", "Roe", " at ", "Dr. ", "dot", "com", ".io"]
    ),
    max_size=60,
).map("".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(TEXT, min_size=1, max_size=4).map("".join))
def test_property_findings_in_bounds_sorted_disjoint_deterministic(text: str) -> None:
    found = ANALYZER.analyze(text)
    assert found == ANALYZER.analyze(text)
    prev_end = 0
    for f in found:
        assert 0 <= f.start < f.end <= len(text)
        assert f.start >= prev_end
        prev_end = f.end
    assert found == sorted(found, key=lambda f: (f.start, f.end))


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=300))
def test_property_arbitrary_unicode_never_crashes(text: str) -> None:
    for f in STRICT.analyze(text):
        assert 0 <= f.start < f.end <= len(text)
