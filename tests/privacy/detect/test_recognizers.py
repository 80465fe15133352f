"""Table-driven recognizer tests: positives and negatives for every built-in recognizer."""

from __future__ import annotations

import pytest

from optin.privacy.detect import create
from optin.privacy.findings import Label

# (recognizer, text, expected substrings found with that recognizer's label)
POSITIVES = [
    ("email", "mail me at jane.roe@example.com today", ["jane.roe@example.com"]),
    ("email", "UPPER: JANE.ROE@EXAMPLE.COM", ["JANE.ROE@EXAMPLE.COM"]),
    ("email", "write to jane at example dot com", ["jane at example dot com"]),
    ("email", "jane [at] example [dot] co [dot] uk", ["jane [at] example [dot] co [dot] uk"]),
    ("phone", "call me on +44 20 7946 0958 please", ["+44 20 7946 0958"]),
    ("phone", "phone: (555) 234-5678", ["(555) 234-5678"]),
    ("phone", "office +41 (0)96 471 07 95", ["+41 (0)96 471 07 95"]),
    ("phone", "Mobile: 03.93.92.16.85", ["03.93.92.16.85"]),
    ("phone", "my cell is 4044591515", ["4044591515"]),
    ("url", "see https://www.acme.com/about", ["https://www.acme.com/about"]),
    ("url", "find me at linkedin.com/in/jane-roe.", ["linkedin.com/in/jane-roe"]),
    ("ip_address", "from 192.168.0.1 yesterday", ["192.168.0.1"]),
    ("ip_address", "v6 2001:db8::8a2e:370:7334 here", ["2001:db8::8a2e:370:7334"]),
    ("credit_card", "card 4111 1111 1111 1111 exp", ["4111 1111 1111 1111"]),
    ("credit_card", "pay with 4007070753690781", ["4007070753690781"]),
    # unlisted issuer range (Maestro 0604): Luhn + a card word just before
    ("credit_card", "debit card 0604 1234 5678 9015 please", ["0604 1234 5678 9015"]),
    ("credit_card", "my card no. 7012345678901232", ["7012345678901232"]),
    ("iban", "IBAN GB82 WEST 1234 5698 7654 32.", ["GB82 WEST 1234 5698 7654 32"]),
    ("iban", "iban gb82west12345698765432", ["gb82west12345698765432"]),
    ("gov_id", "SSN 710-31-0236", ["710-31-0236"]),
    ("gov_id", "my ssn is 710310236", ["710310236"]),
    ("gov_id", "ITIN 912-70-1234", ["912-70-1234"]),
    ("gov_id", "NINO AB 12 34 56 C", ["AB 12 34 56 C"]),
    ("gov_id", "DNI 12345678Z", ["12345678Z"]),
    ("gov_id", "mijn BSN is 111222333", ["111222333"]),
    ("gov_id", "NIR 2 84 05 75 123 456 58", []),  # wrong key: see negatives table
    ("gov_id", "Aadhaar 2341 2341 2346", ["2341 2341 2346"]),
    ("gov_id", "Missing passport M62225531 attribute", ["M62225531"]),
    ("gov_id", "id GB-ID-7401525 and US-DL-74111304325", ["GB-ID-7401525", "US-DL-74111304325"]),
    ("handle", "thanks @jane_roe!", ["@jane_roe"]),
    ("street_address", "lives at 221B Baker Street, London", ["221B Baker Street"]),
    ("street_address", "Via Franscini 71, Lugano", ["Via Franscini 71"]),
    ("street_address", "address: Koskikatu 25", ["Koskikatu 25"]),
    ("person", "Thanks to Dr. Jane Roe for the talk", ["Dr. Jane Roe"]),
    ("person", "Mr Robert Murray lodged it. Later Murray said no.", ["Mr Robert Murray", "Murray"]),
    ("person", "Krisztián Szöllösy listed his songs", ["Krisztián Szöllösy"]),
    ("person", "verses from Faina D. Yefremova today", ["Faina D. Yefremova"]),
    ("person", "Name: VasuAdmin | Location", ["VasuAdmin"]),
    ("person", "congrats Priya on the launch", ["Priya"]),
    ("org", "she works at Reid, Webb and Alvarez now", ["Reid, Webb and Alvarez"]),
    ("org", "joined Acme Widgets Ltd in May", ["Acme Widgets Ltd"]),
    ("location", "we flew from Chennai to Miami", ["Chennai", "Miami"]),
    (
        "date_time",
        "on 12 November 2002 and 2023-10-05 10:22",
        ["12 November 2002", "2023-10-05 10:22"],
    ),
]

NEGATIVES = [
    ("email", "meet me at noon", None),
    ("email", "@jane_roe is a handle", None),
    ("phone", "version 10.2.3 released", None),
    ("phone", "in the year 2021 we sold 1,299.99 worth", None),
    ("phone", "ISBN 978-3-16-148410-0", None),
    ("phone", "born 2/8/1935", None),
    ("phone", "on 2023-10-05 at noon", None),
    ("phone", "SSN 710-31-0236", None),
    ("ip_address", "version 1.2.3.4 is out", None),
    ("ip_address", "at 10:22:33 sharp", None),
    ("credit_card", "order 4111 1111 1111 1112", None),
    ("credit_card", "order 0604 1234 5678 9015 shipped", None),  # no card word, no issuer
    ("credit_card", "tracking 7012345678901232", None),
    ("credit_card", "ISBN 978-3-16-148410-0", None),
    ("iban", "GB82 WEST 1234 5698 7654 33", None),
    ("gov_id", "SSN 000-12-3456 or 666-12-3456", None),
    ("gov_id", "DNI 12345678A", None),
    ("gov_id", "mijn BSN is 111222334", None),
    ("gov_id", "NIR 2 84 05 75 123 456 58", None),
    ("gov_id", "case no. 36110/97 of 2001", None),
    ("phone", "case no. 36110/97 of 2001", None),
    ("phone", "order number 4044591515", None),
    ("gov_id", "the price is 123456789 dollars", None),
    ("handle", "mail jane@example.com", None),
    ("handle", "love #JaneRoe and #summer", None),
    ("person", "The Convention and the Government of the United Kingdom", None),
    ("person", "Version 2.3 of Python released in 2021 for $100", None),
    ("person", "#JaneRoe trending", None),
    ("person", "Microsoft and Google announced it", None),
    ("url", "e.g. this and i.e. that", None),
    ("url", "version 1.2.3 of report.final", None),
    ("street_address", "I have 3 dogs and 2 cats", None),
    ("location", "The Government said", None),
]


@pytest.mark.parametrize(("name", "text", "expected"), POSITIVES)
def test_when_text_has_pii_then_recognizer_finds_it(
    name: str, text: str, expected: list[str]
) -> None:
    rec = create(name)
    found = [text[f.start : f.end] for f in rec.find(text)]
    for want in expected:
        assert want in found, f"{name} missed {want!r} in {text!r}; found {found}"
    for f in rec.find(text):
        assert f.label in rec.labels or f.recognizer == "profile_url"
        assert f.recognizer in (name, "profile_url", "date_of_birth")
        assert 0 < f.score <= 1


@pytest.mark.parametrize(("name", "text", "unused"), NEGATIVES)
def test_when_text_has_lookalike_then_recognizer_stays_silent(
    name: str, text: str, unused: None
) -> None:
    found = [text[f.start : f.end] for f in create(name).find(text)]
    assert found == [], f"{name} flagged {found} in {text!r}"


def test_when_url_is_a_personal_profile_then_recognizer_is_profile_url() -> None:
    text = "https://github.com/janeroe and https://github.com/about and https://acme.com"
    got = {text[f.start : f.end]: f.recognizer for f in create("url").find(text)}
    assert got["https://github.com/janeroe"] == "profile_url"
    assert got["https://github.com/about"] == "url"
    assert got["https://acme.com"] == "url"


def test_when_date_follows_birth_cue_then_recognizer_is_date_of_birth() -> None:
    text = "She was born on 12 March 1990. The meeting is on 3 May 2024."
    got = {text[f.start : f.end]: f.recognizer for f in create("date_time").find(text)}
    assert got["12 March 1990"] == "date_of_birth"
    assert got["3 May 2024"] == "date_time"


def test_when_findings_are_made_then_explanations_never_hold_the_text() -> None:
    text = "Thanks to Dr. Jane Roe, jane@example.com, +44 20 7946 0958"
    for name in ("person", "email", "phone"):
        for f in create(name).find(text):
            assert text[f.start : f.end] not in f.explanation
            assert f.label in (Label.PERSON, Label.EMAIL, Label.PHONE)
