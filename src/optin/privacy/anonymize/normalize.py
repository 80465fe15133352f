"""Normalise a mention so that spelling variants of one entity share a pseudonym."""

from __future__ import annotations

import re

from optin.privacy.findings import Label

_NON_DIGIT = re.compile(r"\D+")
_NON_ALNUM = re.compile(r"[^0-9A-Za-z]+")
_URL_PREFIX = re.compile(r"^(?:https?://)?(?:www\.)?", re.IGNORECASE)


def normalize(value: str, label: Label) -> str:
    """Casefold and collapse whitespace; per label, drop formatting that does not
    change identity (phone punctuation, ``@`` of handles, URL scheme, id separators)."""
    if label is Label.PHONE:
        digits = _NON_DIGIT.sub("", value)
        return digits or value.strip()
    if label in (Label.CREDIT_CARD, Label.IBAN, Label.GOV_ID):
        return _NON_ALNUM.sub("", value).upper() or value.strip()
    # whitespace runs to one space, ends stripped (str.split's whitespace is re's \s)
    text = " ".join(value.split()).casefold()
    if label is Label.HANDLE:
        return text.lstrip("@")
    if label is Label.URL:
        return _URL_PREFIX.sub("", text).rstrip("/")
    if label is Label.PERSON:
        return text.strip(".,;:!?'\"()")
    return text
