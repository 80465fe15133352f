"""Redaction profiles: what detection runs and what anonymization redacts.

A :class:`Profile` names the recognizers the analyzer runs (with parameters) and the
redaction rule. The rule has two parts, so ``default`` can keep cities but redact street
addresses, and keep company home pages but redact personal profile URLs:

* ``redact_labels``: every finding with one of these labels is redacted;
* ``redact_recognizers``: findings from these recognizers are redacted whatever their
  label (``street_address`` -> LOCATION, ``profile_url`` -> URL, ``directory``,
  ``date_of_birth`` -> DATE_TIME).

Use :meth:`Profile.redacts` (or ``Analyzer.redactable``) rather than testing
``redact_labels`` alone.

=========  ==============================================================================
default    PERSON, HANDLE, EMAIL, PHONE, GOV_ID, CREDIT_CARD, IBAN, IP_ADDRESS, street
           addresses, personal profile URLs, directory matches. Keeps ORG, cities,
           countries, ordinary dates, other URLs, hashtags.
strict     default + every LOCATION, every DATE_TIME (dates of birth included), every URL.
accurate   default's redaction rule; names by a statistical tagger (``person_model``)
           stacked on the rule recognizers: higher recall, slower.
=========  ==============================================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from optin.errors import ConfigError
from optin.privacy.findings import Finding, Label

_DIRECT = frozenset(
    {
        Label.PERSON,
        Label.HANDLE,
        Label.EMAIL,
        Label.PHONE,
        Label.GOV_ID,
        Label.CREDIT_CARD,
        Label.IBAN,
        Label.IP_ADDRESS,
    }
)
_ALWAYS = frozenset({"street_address", "profile_url", "directory"})
_BASE_RECOGNIZERS: tuple[str, ...] = (
    "email",
    "url",
    "ip_address",
    "credit_card",
    "iban",
    "gov_id",
    "phone",
    "handle",
    "street_address",
    "org",
    "location",
    "date_time",
    "person",
)


@dataclass(frozen=True, slots=True)
class Profile:
    """What to detect and what to redact."""

    name: str
    redact_labels: frozenset[Label]
    redact_recognizers: frozenset[str] = frozenset()
    recognizers: tuple[str, ...] = _BASE_RECOGNIZERS
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))
    min_score: float = 0.5
    description: str = ""

    def redacts(self, finding: Finding) -> bool:
        """Whether anonymization must redact ``finding`` under this profile."""
        if finding.score < self.min_score:
            return False
        return finding.label in self.redact_labels or finding.recognizer in self.redact_recognizers


PROFILES: Mapping[str, Profile] = MappingProxyType(
    {
        "default": Profile(
            name="default",
            redact_labels=_DIRECT,
            redact_recognizers=_ALWAYS,
            description="direct identifiers, street addresses and personal URLs; keeps "
            "organisations, cities, countries, ordinary dates and hashtags",
        ),
        "strict": Profile(
            name="strict",
            redact_labels=_DIRECT | {Label.LOCATION, Label.DATE_TIME, Label.URL},
            redact_recognizers=_ALWAYS | {"date_of_birth"},
            description="default plus every location, date/time (dates of birth) and URL",
        ),
        "accurate": Profile(
            name="accurate",
            redact_labels=_DIRECT,
            redact_recognizers=_ALWAYS,
            recognizers=tuple("person_model" if r == "person" else r for r in _BASE_RECOGNIZERS),
            description="default's rule with a slower, higher-recall name search: a "
            "statistical name tagger stacked on the rule recognizers",
        ),
    }
)


def profile_names() -> list[str]:
    """The registered profile names, in the registry's order (``default`` first)."""
    return list(PROFILES)


def get_profile(name: str | Profile) -> Profile:
    """The profile called ``name``; ConfigError listing the valid names if unknown."""
    if isinstance(name, Profile):
        return name
    try:
        return PROFILES[name]
    except KeyError:
        raise ConfigError(
            f"unknown privacy profile '{name}'; valid profiles: {', '.join(profile_names())}"
        ) from None


__all__ = ["PROFILES", "Profile", "get_profile", "profile_names"]
