"""An independent residual scanner for ``snapshot verify``, built differently from the
redactor on purpose: it imports nothing from :mod:`optin.privacy.detect` or
:mod:`optin.privacy.anonymize`, has no recognizer registry, no scores and no overlap
rules, and judges whole tokens by shape and by exact membership instead of running
patterns over the text.

* Text is NFKC-folded, format and control characters dropped (its own fold, not the
  detector's view), then split on whitespace; redaction tags are skipped.
* EMAIL: a token with one "@" between a local part and a dotted domain (letters on
  both sides of its last dot), unless the domain is reserved and never delivers mail
  (RFC 2606 / 6761: example.com/.net/.org, .example, .test, .invalid, .localhost).
* HANDLE: a token that starts with "@" followed by a platform member's handle.
* PHONE: a run of digits and separators holding 9–15 digits that starts with "+" or
  holds at least two separators, and is not a date nor in the North American range
  reserved for fiction (555-0100 to 555-0199).
* CREDIT_CARD: a run of 13–19 digits passing the Luhn check; IBAN: two letters, two
  digits and 11–30 letters or digits (spaces allowed) passing ISO 7064 mod 97.
* PERSON: a platform member's full display name as consecutive tokens (case-folded);
  a name in a script written without spaces (CJK) as a substring.

The residual rate is the share of records with at least one finding, with a Wilson
95% confidence interval.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

_TAGS = re.compile(r"\[[A-Z_]+\]|<[A-Z_]+_[0-9a-f]{2,16}>")
_EDGE = "\"'“”‘’()[]{}<>,;:!?."
_NUMBERISH = re.compile(r"\+?\(?\d[\d \-.()/]*\d")
_DATE = re.compile(r"^\d{1,4}[\-/.]\d{1,2}[\-/.]\d{1,4}$")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_RESERVED_DOMAIN = re.compile(
    r"(?:^|\.)(?:example\.(?:com|net|org)|[^.]+\.(?:example|test|invalid|localhost))$"
)


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    return "".join(
        c for c in text if c in "\t\n\r" or unicodedata.category(c) not in ("Cf", "Cc", "Cs")
    )


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _mod97(value: str) -> bool:
    s = value[4:] + value[:4]
    num = "".join(str(int(c, 36)) for c in s)
    return int(num) % 97 == 1


def _is_email(tok: str) -> bool:
    tok = tok.strip(_EDGE)
    if tok.count("@") != 1:
        return False
    local, domain = tok.split("@")
    if not local or "." not in domain:
        return False
    head, _, tld = domain.rpartition(".")
    if _RESERVED_DOMAIN.search(domain.casefold()):
        return False
    return bool(head) and len(tld) >= 2 and tld.isalpha() and any(c.isalnum() for c in local)


def _is_cjk(name: str) -> bool:
    return any(
        "\u3040" <= c <= "\u30ff" or "\u3400" <= c <= "\u9fff" or "\uac00" <= c <= "\ud7af"
        for c in name
    )


@dataclass
class Directory:
    """The platform's members as the rescan needs them: full names and handles."""

    names: dict[str, list[tuple[str, ...]]] = field(default_factory=dict)  # first token ->
    unspaced: list[str] = field(default_factory=list)
    handles: set[str] = field(default_factory=set)

    @classmethod
    def build(cls, rows: Iterable[tuple[str, str]]) -> Directory:
        d = cls()
        for name, handle in rows:
            if handle:
                d.handles.add(_fold(handle).casefold().lstrip("@"))
            if not name:
                continue
            folded = _fold(name).casefold()
            toks = tuple(folded.split())
            if _is_cjk(folded) and len(toks) == 1:
                if len(folded) >= 2:
                    d.unspaced.append(folded)
            elif len(toks) >= 2:
                d.names.setdefault(toks[0], []).append(toks)
        d.unspaced.sort(key=len, reverse=True)
        return d


@dataclass
class Rescan:
    """Findings of the independent scanner over many records."""

    records: int = 0
    with_residual: int = 0
    by_label: Counter[str] = field(default_factory=Counter)
    record_ids: list[str] = field(default_factory=list)  # records with a finding (first ones)

    def add(self, record_id: str, labels: list[str], keep_ids: int = 20) -> None:
        self.records += 1
        if labels:
            self.with_residual += 1
            self.by_label.update(labels)
            if len(self.record_ids) < keep_ids:
                self.record_ids.append(record_id)

    @property
    def rate(self) -> float:
        return self.with_residual / self.records if self.records else 0.0

    def interval(self, z: float = 1.96) -> tuple[float, float]:
        """Wilson score interval of the residual rate."""
        n = self.records
        if n == 0:
            return 0.0, 0.0
        p = self.rate
        den = 1 + z * z / n
        mid = (p + z * z / (2 * n)) / den
        half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
        return max(0.0, mid - half), min(1.0, mid + half)


def scan(text: str, directory: Directory | None = None) -> list[str]:
    """The labels of the personal data the independent scanner sees in ``text``."""
    if not text:
        return []
    text = _TAGS.sub(" ", _fold(text))
    toks = text.split()
    out = _addresses(toks, directory) + _numbers(text)
    if directory is not None:
        out += _names(text, toks, directory)
    return out


def _addresses(toks: list[str], directory: Directory | None) -> list[str]:
    out = []
    handles = directory.handles if directory is not None else set()
    for tok in toks:
        if "@" in tok and _is_email(tok):
            out.append("EMAIL")
        elif tok.startswith("@") and tok[1:].strip(_EDGE).casefold() in handles:
            out.append("HANDLE")
    return out


def _numbers(text: str) -> list[str]:
    out = []
    for m in _NUMBERISH.finditer(text):
        run = m.group(0)
        digits = "".join(c for c in run if c.isdigit())
        seps = sum(1 for c in run if c in " -.()/")
        plus = run.startswith("+")
        if 13 <= len(digits) <= 19 and seps <= 4 and not plus and _luhn(digits):
            out.append("CREDIT_CARD")
        elif (
            9 <= len(digits) <= 15
            and (plus or seps >= 2)
            and not _DATE.match(run.strip())
            and run.count(".") < 3
            and not _fictional_nanp(digits)
        ):
            out.append("PHONE")
    for m in _IBAN.finditer(text):
        compact = m.group(0).replace(" ", "")
        if 15 <= len(compact) <= 34 and _mod97(compact):
            out.append("IBAN")
    return out


def _fictional_nanp(digits: str) -> bool:
    """A North American number in 555-0100..0199, the range reserved for fiction."""
    national = digits[1:] if len(digits) == 11 and digits[0] == "1" else digits
    return len(national) == 10 and national[3:8] == "55501"


def _names(text: str, toks: list[str], directory: Directory) -> list[str]:
    out = []
    low = [t.casefold().strip(_EDGE) for t in toks]
    for i, t in enumerate(low):
        for name in directory.names.get(t, ()):
            if tuple(low[i : i + len(name)]) == name:
                out.append("PERSON")
                break
    if directory.unspaced:
        folded = text.casefold()
        out.extend("PERSON" for n in directory.unspaced if n in folded)
    return out


__all__ = ["Directory", "Rescan", "scan"]
