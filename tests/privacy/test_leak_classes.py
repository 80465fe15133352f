"""Leak classes of issue 17, end to end through the default Redactor.

Each class has a table of positives (the personal data must not survive redaction, in
any part) and look-alike negatives (ordinary text that must survive unchanged).
"""

from __future__ import annotations

import pytest

from optin.privacy.api import Redactor, RedactorConfig

R = Redactor(RedactorConfig(profile="default", drop_density=None))


def _leaks(text: str, secret: str) -> list[str]:
    """The words of ``secret`` (3+ characters) still visible after redaction."""
    out = R.redact(text).text
    return [w for w in secret.replace(",", " ").split() if len(w) >= 3 and w in out]


# -- street addresses ----------------------------------------------------------------------

NUMBER_LAST = [
    ("Meet us at Elm Street 87 on Friday.", "Elm Street 87"),
    ("Our new office: Baker Street 221, second floor.", "Baker Street 221"),
    ("Parcel for Oak Avenue 12B please.", "Oak Avenue 12B"),
    ("She lives on Maple Road 5 now.", "Maple Road 5"),
]
SUFFIXLESS = [
    ("Our office is at Kingsway 180, London.", "Kingsway 180"),
    ("The shop on Broadway 1500 closes early.", "Broadway 1500"),
    ("Drop it off at Westgate 14, Leeds.", "Westgate 14"),
]
FOREIGN_MULTIWORD = [
    ("Send it to Rua das Flores 123, Porto.", "Rua das Flores 123"),
    ("We moved to Calle de Alcalá 42, Madrid.", "Calle de Alcalá 42"),
    ("Atelier: Rue de la Paix 12, Paris.", "Rue de la Paix 12"),
    ("Ufficio in Via dei Mille 7, Napoli.", "Via dei Mille 7"),
    ("Escritório na Avenida dos Andradas 3000.", "Avenida dos Andradas 3000"),
]
STREET_LOOKALIKES = [
    "Python 3 ships with Windows 11 support.",
    "We visited Norway 2 times this year.",
    "The Gateway 5 conference was fun.",
    "Top 10 tips from Main Street 2024 survey",  # a year after a street word: no number
    "Raised prices by Street 5% last year",
    "Rua da Praia is lovely in summer.",  # a street without a number: kept
]


@pytest.mark.parametrize(("text", "secret"), NUMBER_LAST)
def test_number_last_street_address_is_masked_whole(text: str, secret: str) -> None:
    assert _leaks(text, secret) == []


@pytest.mark.parametrize(("text", "secret"), SUFFIXLESS)
def test_suffixless_street_name_with_number_is_masked(text: str, secret: str) -> None:
    assert _leaks(text, secret) == []


@pytest.mark.parametrize(("text", "secret"), FOREIGN_MULTIWORD)
def test_multiword_foreign_street_name_is_masked_whole(text: str, secret: str) -> None:
    assert _leaks(text, secret) == []


@pytest.mark.parametrize("text", STREET_LOOKALIKES)
def test_street_lookalikes_are_kept(text: str) -> None:
    assert "[LOCATION]" not in R.redact(text).text


# -- titles beside names, particles, apostrophes -----------------------------------------

TITLED = [
    ("Thanks to Dr. Jane Roe for the talk.", "Dr."),
    ("Huge thanks to Prof. Anna Berg today.", "Prof."),
    ("Mrs. Anna Berg opened the session.", "Mrs."),
    ("Meeting with Herr Stefan Müller tomorrow.", "Herr"),
]
PARTICLES = [
    ("Congrats to Pieter van der Berg on the launch!", "Pieter van der Berg"),
    ("Shout-out to Ludwig van Beethoven fans.", "Ludwig van Beethoven"),
    ("Great talk by Siobhan O'Sullivan yesterday.", "Siobhan O'Sullivan"),
    ("Thanks María de los Ángeles for the help!", "María de los Ángeles"),
    ("Welcome Anna de Vries to the team!", "Anna de Vries"),
]
TITLE_LOOKALIKES = [
    "Ask your Dr. about dosage.",
    "Our Prof. was late again.",
]


@pytest.mark.parametrize(("text", "title"), TITLED)
def test_title_is_masked_with_the_name(text: str, title: str) -> None:
    out = R.redact(text).text
    assert "[PERSON]" in out
    assert title not in out, out


@pytest.mark.parametrize(("text", "secret"), PARTICLES)
def test_particle_and_apostrophe_surnames_are_masked_whole(text: str, secret: str) -> None:
    leaked = [w for w in _leaks(text, secret) if w.lower() not in ("van", "der", "los", "de")]
    assert leaked == []
    out = R.redact(text).text
    assert " van der " not in out and " de los " not in out


@pytest.mark.parametrize("text", TITLE_LOOKALIKES)
def test_title_lookalikes_are_kept(text: str) -> None:
    assert R.redact(text).text == text


# -- structured identifiers ----------------------------------------------------------------

STRUCTURED = [
    ("Writes to john at example.com every day.", "john", "[EMAIL]"),
    ("reach me: john @ example . com", "john", "[EMAIL]"),
    ("email me at jane.doe at gmail.com", "jane.doe", "[EMAIL]"),
    ("My PAN is ABCPE1234F, keep it safe.", "ABCPE1234F", "[GOV_ID]"),
    ("Server at 192.168.1.20:8080 is down", "8080", "[IP_ADDRESS]"),
    ("WhatsApp +55 11 98765 4321", "98765", "[PHONE]"),
]
STRUCTURED_LOOKALIKES = [
    "See you at example.com next week.",  # "at" + a domain without a mail cue
    "Meet at Acme.com booth 12.",
    "The build at 10:30 used 3 cores.",
    "Model ABCDE is the best of 2024.",
]


@pytest.mark.parametrize(("text", "secret", "tag"), STRUCTURED)
def test_structured_identifier_forms_are_masked(text: str, secret: str, tag: str) -> None:
    out = R.redact(text).text
    assert secret not in out and tag in out, out
    assert "[CREDIT_CARD]" not in out


@pytest.mark.parametrize("text", STRUCTURED_LOOKALIKES)
def test_structured_lookalikes_are_kept(text: str) -> None:
    assert R.redact(text).text == text
