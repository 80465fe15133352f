"""Small helpers shared by recognizers: context windows and word boundaries."""

from __future__ import annotations

import re
import sys

from optin.privacy.detect.scan import lower


def before(text: str, start: int, window: int = 40) -> str:
    """Lower-cased text in the ``window`` characters before ``start``."""
    return text[max(0, start - window) : start].lower()


def after(text: str, end: int, window: int = 30) -> str:
    return text[end : end + window].lower()


def near(text: str, start: int, end: int, pattern: re.Pattern[str], window: int = 40) -> bool:
    """Whether ``pattern`` occurs in the context window around ``[start, end)``."""
    lo = max(0, start - window)
    return bool(pattern.search(text, lo, start)) or bool(
        pattern.search(text, end, min(len(text), end + window // 2))
    )


class Words:
    """Any of some lower-case words or phrases as whole words, any case: ``search`` is
    :attr:`pattern`'s (``(?i)``, a look-behind and a look-ahead for word boundaries).

    Speed: SRE tries a case-insensitive alternation that starts with a look-behind at
    every position. On ASCII text, where ``(?i)`` is plain lower case, ``search`` runs
    instead an equivalent case-sensitive pattern on the lower-cased text, with each
    word's look-behind after its first letter, so the alternation's first letters are
    found at C speed. Any other text uses :attr:`pattern` itself (Unicode case folding
    is the pattern's: "ſ", "ı" and "İ" fold to ASCII letters that ``lower`` does not
    give). The match objects are truthy as :attr:`pattern`'s; on ASCII text they are
    of the lower-cased text (same offsets).
    """

    __slots__ = ("_ascii", "pattern")

    def __init__(self, alternatives: tuple[str, ...]) -> None:
        if any(a != a.lower() or not a for a in alternatives):
            raise ValueError("words(): alternatives must be non-empty and lower-case")
        alt = "|".join(re.escape(a).replace(r"\ ", r"\s+") for a in alternatives)
        self.pattern = re.compile(rf"(?i)(?<![^\W_])(?:{alt})(?![^\W_])")
        # grouped by first letter, in the alternatives' order within each group (the
        # first alternative that matches at the leftmost start wins in both patterns:
        # alternatives with different first letters never match at one position)
        groups: dict[str, list[str]] = {}
        for a in alternatives:
            groups.setdefault(a[0], []).append(re.escape(a[1:]).replace(r"\ ", r"\s+"))
        moved = "|".join(
            re.escape(first) + r"(?<![^\W_].)(?:" + "|".join(rests) + ")"
            for first, rests in groups.items()
        )
        self._ascii = re.compile(rf"(?:{moved})(?![^\W_])")

    def search(self, text: str, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[str] | None:
        if text.isascii():  # O(1)
            return self._ascii.search(lower(text), pos, endpos)
        return self.pattern.search(text, pos, endpos)


def words(*alternatives: str) -> Words:
    """Any of the lower-case words/phrases as whole words, any case (:class:`Words`:
    ``search`` like a compiled pattern's; ``.pattern`` is the ``(?i)`` pattern)."""
    return Words(alternatives)


def last_words(text: str, start: int, n: int = 3, window: int = 40) -> list[str]:
    """Up to ``n`` lower-cased words just before ``start`` (punctuation stripped)."""
    chunk = text[max(0, start - window) : start].lower().split()[-n:]
    return [w.strip(".,;:!?()[]\"'“”") for w in chunk]


def phrase_suffixes(text: str, start: int, n: int = 3) -> list[str]:
    """The phrases of the last 1..n words before ``start``: ``" ".join(ws[-k:])``."""
    ws = last_words(text, start, n)
    out: list[str] = []
    acc = ""
    for k, w in enumerate(reversed(ws)):
        acc = w if k == 0 else w + " " + acc
        out.append(acc)
    return out


def ends_with_phrase(text: str, start: int, phrases: frozenset[str], n: int = 3) -> bool:
    """Whether the 1..n words before ``start`` form one of ``phrases`` (lower-case)."""
    return not phrases.isdisjoint(phrase_suffixes(text, start, n))
