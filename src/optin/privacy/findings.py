"""The one contract between detection and anonymization.

A :class:`Finding` is a labelled span on the ORIGINAL text. Detection produces
findings; anonymization consumes them. Neither half imports the other; both import
only this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Label(StrEnum):
    PERSON = "PERSON"
    HANDLE = "HANDLE"
    EMAIL = "EMAIL"
    PHONE = "PHONE"
    URL = "URL"
    IP_ADDRESS = "IP_ADDRESS"
    CREDIT_CARD = "CREDIT_CARD"
    IBAN = "IBAN"
    GOV_ID = "GOV_ID"
    LOCATION = "LOCATION"
    DATE_TIME = "DATE_TIME"
    ORG = "ORG"
    OTHER = "OTHER"


@dataclass(frozen=True, slots=True, order=True)
class Finding:
    """A detected piece of personal data: ``text[start:end]`` carries ``label``.

    ``start``/``end`` are Python string indices (code points), end-exclusive, on the
    original text. ``recognizer`` names what found it; ``explanation`` says why
    (never the matched text itself, so findings can be logged).
    """

    start: int
    end: int
    label: Label
    score: float
    recognizer: str
    explanation: str = ""

    def __post_init__(self) -> None:
        if not (0 <= self.start < self.end):
            raise ValueError(f"invalid span [{self.start}, {self.end})")

    def to_span(self) -> dict[str, object]:
        """The benchmark/``optin redact`` JSON form of this finding."""
        return {
            "start": self.start,
            "end": self.end,
            "label": str(self.label),
            "score": round(self.score, 4),
            "recognizer": self.recognizer,
        }
