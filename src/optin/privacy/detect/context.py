"""Small helpers shared by recognizers: context windows and word boundaries."""

from __future__ import annotations

import re


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


def words(*alternatives: str) -> re.Pattern[str]:
    """A case-insensitive pattern matching any of the words/phrases as whole words."""
    alt = "|".join(re.escape(a).replace(r"\ ", r"\s+") for a in alternatives)
    return re.compile(rf"(?i)(?<![^\W_])(?:{alt})(?![^\W_])")


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
