"""The postal code of a street address is redacted with the street; the city is kept.
A word followed by a two-letter capital code ("Paris FR") is no person's name."""

from __future__ import annotations

import pytest

from optin.privacy.api import Redactor, RedactorConfig
from optin.services.snapshot_audit import ground_truth_findings


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor(RedactorConfig())


POSITIVES = [
    ("Office: 12 Main Street, New York, CA 35094 call me", "35094", "New York"),
    ("Office: 12 Main Street, New York, CA 35094-1234 call me", "35094-1234", "New York"),
    ("Card to: 5 Elm Street, Toronto, AB C3M 8E4. Thanks", "C3M 8E4", "Toronto"),
    ("New address: 44 Baker St, Sydney 2827. Bye", "2827", "Sydney"),
    ("Office: 7 King Street, London SW1A 1AA today", "SW1A 1AA", "London"),
    ("Send it to 3 Oak Road, Leeds LS1 4AP please", "LS1 4AP", "Leeds"),
    ("Office: 12 MG Road, Bengaluru 560001 call me", "560001", "Bengaluru"),
    ("Our office: Hauptstraße 5, 10115 Berlin.", "10115", "Berlin"),
]


@pytest.mark.parametrize(("text", "code", "city"), POSITIVES)
def test_postal_code_after_a_street_address_is_redacted_and_the_city_kept(
    redactor: Redactor, text: str, code: str, city: str
) -> None:
    out = redactor.redact(text).text
    assert code not in out
    assert city in out


NEGATIVES = [
    # a year after a street and city is no postal code
    ("We met at 5 Elm Street, Boston 2024 was great", "2024"),
    # a number without a street address before it
    ("Boston 02115 is a lovely area code to have", "02115"),
    # a place and a country or state code is no name
    ("Moved to Paris FR last year", "Paris FR"),
]


@pytest.mark.parametrize(("text", "kept"), NEGATIVES)
def test_look_alikes_are_kept(redactor: Redactor, text: str, kept: str) -> None:
    assert kept in redactor.redact(text).text


def test_audit_ground_truth_ignores_words_that_identify_nobody() -> None:
    original = "Mail me at jane.doe@gmail.com or see https://janedoe.dev today"
    spans = [(11, 29, "EMAIL"), (37, 56, "URL")]
    # surrogates carry the same structural words as the planted values
    redacted = "Mail me at kim.lee@example.com or see https://example.org/kim today"
    findings, kinds = ground_truth_findings(original, spans, redacted)
    assert findings == [] and kinds == []
    leaked = "Mail me at jane@example.com or see https://example.org/kim today"
    findings, kinds = ground_truth_findings(original, spans, leaked)
    assert kinds == ["partial"]
    assert [leaked[f["start"] : f["end"]] for f in findings] == ["jane"]


def test_audit_ground_truth_excuses_short_numbers_and_surrogate_words_only() -> None:
    original = "Call Chloe Ward on +1 415-555-0163 today"
    spans = [(5, 15, "PERSON"), (19, 34, "PHONE")]
    # a surrogate name sharing a word with the planted one, a fake phone in 555-01xx
    redacted = "Call Chloe Perez on +1 212-555-0199 today"
    findings, _ = ground_truth_findings(original, spans, redacted)
    assert [redacted[f["start"] : f["end"]] for f in findings] == ["Chloe"]
    findings, kinds = ground_truth_findings(original, spans, redacted, frozenset({"Chloe"}))
    assert findings == [] and kinds == []
    # a planted span left whole is counted whatever the lists hold
    _, kinds = ground_truth_findings(original, spans, original, frozenset({"Chloe", "Ward"}))
    assert kinds == ["verbatim"]
