"""E-mail addresses, any case, and common obfuscations ("jane at example dot com")."""

from __future__ import annotations

import re
from collections.abc import Iterator

from optin.privacy.detect.base import Recognizer, register
from optin.privacy.detect.scan import lower, windows_around
from optin.privacy.findings import Finding, Label

_PLAIN = re.compile(
    r"(?<![\w.%+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]*@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![\w\-])"
)
_AT = r"\s*(?:\[\s*at\s*\]|\(\s*at\s*\)|\{\s*at\s*\}|<\s*at\s*>|\sat\s|\s@\s)\s*"
_DOT = r"\s*(?:\[\s*dot\s*\]|\(\s*dot\s*\)|\{\s*dot\s*\}|<\s*dot\s*>|\sdot\s|\.)\s*"
_TLD = (
    r"(?:com|org|net|edu|gov|io|co|uk|de|fr|es|it|nl|be|ch|se|no|fi|dk|in|au|ca|us|info|biz|"
    r"me|ai|dev|app)"
)
# a local part with its dots spelt out: "isa dot arens at icloud dot com"
_LOCAL_DOTS = r"(?:(?:\s+dot\s+|\s*[\[({<]\s*dot\s*[\])}>]\s*)[a-z0-9][a-z0-9._%+\-]*){0,3}"
_OBFUSCATED = re.compile(
    rf"(?i)(?<![\w.%+\-])[a-z0-9][a-z0-9._%+\-]*{_LOCAL_DOTS}{_AT}[a-z0-9][a-z0-9\-]*(?:{_DOT}[a-z0-9\-]+)*?"
    rf"(?:\s*(?:\[\s*dot\s*\]|\(\s*dot\s*\)|\{{\s*dot\s*\}}|<\s*dot\s*>|\sdot\s)\s*){_TLD}\b"
    rf"(?:{_DOT}{_TLD}\b)?"
)
_AT_SIGN = re.compile("@")
_AT_WORD_SPLIT = re.compile(r"(?i)\s+at\s+")
# words around a spelt-out "at" that make it English, not an address ("me at the dot com")
_NOT_MAIL_TEXT = (
    "me us you him her them it we i the a an my our your his their this that home work noon "
    "night least last first"
)
_NOT_MAIL_WORDS = frozenset(_NOT_MAIL_TEXT.split())


def _plain_words(match: str) -> bool:
    """Whether a spelt-out "x at y dot z" reads as English: a pronoun before "at" or an
    article or common word after it."""
    parts = _AT_WORD_SPLIT.split(match, maxsplit=1)
    if len(parts) != 2:
        return False
    before = parts[0].split()[-1].lower() if parts[0].split() else ""
    after = parts[1].split()[0].lower() if parts[1].split() else ""
    return before in _NOT_MAIL_WORDS or after in _NOT_MAIL_WORDS


# "john @ example . com": spaces around "@" and the dots
_SPACED = re.compile(
    rf"(?i)(?<![\w.%+\-])[a-z0-9][a-z0-9._%+\-]*[ \t]*@[ \t]*[a-z0-9][a-z0-9\-]*"
    rf"(?:[ \t]*\.[ \t]*[a-z0-9\-]+)*?[ \t]*\.[ \t]*{_TLD}\b"
)
# "john at example.com" after a mail cue ("mail", "write to", "contact")
_AT_WORD = re.compile(
    r"(?i)(?<![\w.%+\-])([a-z0-9][a-z0-9._%+\-]*)[ \t]+at[ \t]+"
    r"([a-z0-9][a-z0-9\-]*(?:\.[a-z0-9\-]+)*\.[a-z]{2,24})\b(?![.\-]\w)"
)
# necessary for any _SPACED match: an "@", then the first domain label and a dot (an
# "@handle" alone never starts one), so a text without it skips the spaced scan
_SPACED_HINT = re.compile(r"(?i)@[ \t]*[a-z0-9][a-z0-9\-]*[ \t]*\.")
# necessary for any _AT_WORD match: "at" between blanks, then a dotted domain
_AT_WORD_HINT = re.compile(r"(?i)[ \t]at[ \t]+[a-z0-9][a-z0-9.\-]*\.[a-z]{2}")
_CUE_WORDS = ("mail", "writ", "wrote", "contact", "reach", "ping", "dm")
_MAIL_CUE = re.compile(r"(?i)(?:e-?mail|mail|write|writes|wrote|contact|reach|ping|dm)\b")


def _hinted(low: str) -> bool:
    return "dot" in low or "[at]" in low or "(at)" in low


@register
class EmailRecognizer(Recognizer):
    """Plain addresses (case-insensitive) and "at"/"dot" obfuscations."""

    name = "email"
    labels = frozenset({Label.EMAIL})

    def __init__(self, obfuscated: bool = True) -> None:
        self.obfuscated = obfuscated

    def find(self, text: str) -> Iterator[Finding]:
        at = text.find("@")
        if at >= 0:
            # an address holds no whitespace: scan only the words around each "@"
            ats = [m.start() for m in _AT_SIGN.finditer(text, at)]
            for lo, hi in windows_around(text, ats, 0, 0):
                for m in _PLAIN.finditer(text, lo, hi):
                    yield Finding(
                        m.start(), m.end(), Label.EMAIL, 1.0, self.name, "address pattern"
                    )
        if not self.obfuscated:
            return
        low = lower(text)
        if _hinted(low):
            for m in _OBFUSCATED.finditer(text):
                if _plain_words(m.group()):
                    continue  # "meet me at the dot com party"
                yield Finding(m.start(), m.end(), Label.EMAIL, 0.9, self.name, "obfuscated address")
        if (
            at >= 0
            and (" @" in text or "@ " in text or "\t@" in text or "@\t" in text)
            and _SPACED_HINT.search(text, at) is not None
        ):
            yield from self._spaced(text, at)
        if (
            " at " in low
            and any(c in low for c in _CUE_WORDS)
            and _AT_WORD_HINT.search(text) is not None
        ):
            yield from self._at_word(text, low)

    def _spaced(self, text: str, at: int) -> Iterator[Finding]:
        """ "john @ example . com": around an "@" with a space on one side."""
        ats = [
            m.start()
            for m in _AT_SIGN.finditer(text, at)
            if text[m.start() - 1 : m.start()] in (" ", "\t") or text[m.end() : m.end() + 1] == " "
        ]
        for lo, hi in windows_around(text, ats, 40, 60) if ats else ():
            for m in _SPACED.finditer(text, lo, hi):
                if " " in m.group(0) or "\t" in m.group(0):
                    yield Finding(m.start(), m.end(), Label.EMAIL, 0.9, self.name, "spaced address")

    def _at_word(self, text: str, low: str) -> Iterator[Finding]:
        """ "john at example.com" with a mail cue in the 30 characters before it."""
        i = low.find(" at ")
        seen: set[int] = set()
        while i >= 0:
            if _MAIL_CUE.search(text, max(0, i - 70), i):
                for m in _AT_WORD.finditer(text, max(0, i - 40), min(len(text), i + 80)):
                    if m.start() not in seen and _MAIL_CUE.search(
                        text, max(0, m.start() - 30), m.start()
                    ):
                        seen.add(m.start())
                        yield Finding(
                            m.start(), m.end(), Label.EMAIL, 0.85, self.name, "address with 'at'"
                        )
            i = low.find(" at ", i + 4)
