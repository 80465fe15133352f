"""Person-name rules of round 2: tables of positives and negatives (default profile)."""

from __future__ import annotations

import pytest

from optin.privacy.detect import Analyzer, create
from optin.privacy.findings import Label

PERSON = create("person")
DEFAULT = Analyzer("default")

# (text, substrings the person recognizer must report)
NAME_POSITIVES = [
    ("represented by their Agent, Mr C.A. Whomersley, of the Foreign", ["Mr C.A. Whomersley"]),
    ("our 3 founders: Rudi, Jackson and Campos. The idea", ["Rudi", "Jackson", "Campos"]),
    ("they had 4: leonti, christopher, kristina and caleb.", ["leonti", "kristina", "caleb"]),
    ("her maiden name is nyberg", ["nyberg"]),
    ("sometimes people call me višeslav", ["višeslav"]),
    ("my name is borna jerković but", ["borna jerković"]),
    ("in that direction,” Hartvigsson said on Monday", ["Hartvigsson"]),
    ("Is this a good song? Dale and White were precision engineers.", ["Dale", "White"]),
    ("Daniela C Capon lives at the corner", ["Daniela C Capon"]),
    ("Follow up with Jan Jílek in a couple of months.", ["Jan Jílek"]),
    ("please change it to Ivan King", ["Ivan King"]),
    ("The applicant, Olubukunola Obasa, is a national", ["Olubukunola Obasa"]),
    ("Directed By:    Sari J. Paavolainen", ["Sari J. Paavolainen"]),
    ("Vsevolod is very reliable.", ["Vsevolod"]),
    ("Don't go to town, Roy!", ["Roy"]),
    ("I met Angela yesterday", ["Angela"]),
]

# texts in which the analyzer (default profile) must find no PERSON at all
PERSON_NEGATIVES = [
    "against the United Kingdom of Great Britain and Northern Ireland lodged",
    "an asylum seeker from Sierra Leone. Although",
    "before the Civil Court of General Jurisdiction for compensation",
    "Price: 800   Location: Vellore",
    "I'm contacting you about a problem. Don't worry, I'll call.",
    "Version 2.3.1 was released in 2021 for $1,299.99",
    "joined Acme Widgets Ltd in May",
    "love #JaneRoe and #summer",
    "ISBN 978-3-16-148410-0 and the year 1999",
    "How do I do that?",
    "I ate apples, pears and grapes",
]

# PII lookalikes: no PERSON, PHONE, CREDIT_CARD or GOV_ID in any of them
LOOKALIKES = [
    "version 10.2.3 released",
    "ISBN 978-3-16-148410-0",
    "in the years 1999, 2000 and 2021",
    "it cost $1,299.99 or EUR 4,500.00",
    "Acme Ltd and Globex Corporation merged",
    "#summer #JaneRoe #2024",
    "order 4111 1111 1111 1112 shipped",
    "case no. 36110/97 of 2001",
]


@pytest.mark.parametrize(("text", "expected"), NAME_POSITIVES)
def test_when_text_names_a_person_then_person_recognizer_finds_it(
    text: str, expected: list[str]
) -> None:
    found = [text[f.start : f.end] for f in PERSON.find(text)]
    for want in expected:
        assert want in found, f"missed {want!r} in {text!r}; found {found}"


@pytest.mark.parametrize("text", PERSON_NEGATIVES)
def test_when_text_has_no_person_then_analyzer_reports_none(text: str) -> None:
    found = [text[f.start : f.end] for f in DEFAULT.analyze(text) if f.label is Label.PERSON]
    assert found == [], f"flagged {found} in {text!r}"


@pytest.mark.parametrize("text", LOOKALIKES)
def test_when_text_has_lookalikes_then_no_direct_identifier_is_reported(text: str) -> None:
    bad = {Label.PERSON, Label.PHONE, Label.CREDIT_CARD, Label.GOV_ID}
    found = [(text[f.start : f.end], f.label) for f in DEFAULT.analyze(text) if f.label in bad]
    assert found == [], f"flagged {found} in {text!r}"


def test_when_a_list_holds_a_name_then_company_partnership_is_not_reported() -> None:
    text = "the brainchild of our 3 founders: Rudi, Jackson and Campos."
    labels = {text[f.start : f.end]: f.label for f in DEFAULT.analyze(text)}
    assert labels.get("Jackson") is Label.PERSON
    assert Label.ORG not in labels.values()


def test_when_name_is_in_an_address_then_it_is_not_a_person() -> None:
    text = "Meet me at 526 Rua Cyro Schmutzer Franco 1213 Apt. 204"
    found = [text[f.start : f.end] for f in PERSON.find(text)]
    assert found == []
