"""Cities, regions and countries (label LOCATION, recognizer ``location``).

Kept by the ``default`` profile, redacted by ``strict``. Uses the place names of the
shipped lexicon; a capitalised place word that is also a common first name or English
word needs a cue ("in", "from", "near", "at", "to") or a neighbouring place.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterator
from functools import lru_cache

from optin.privacy.detect import lexicon
from optin.privacy.detect.base import Recognizer, register
from optin.privacy.detect.scan import cap_spans, cap_words
from optin.privacy.findings import Finding, Label

_CUE = re.compile(r"(?i)(?:\bin|\bfrom|\bnear|\bat|\bto|\bvisit(?:ing|ed)?|\baround|,)[ \t]*$")


@register
class LocationRecognizer(Recognizer):
    name = "location"
    labels = frozenset({Label.LOCATION})
    exact_labels = True
    max_score = 0.5  # every finding scores at most this (analyzer)

    def __init__(self) -> None:
        self._lex = lexicon.names()

    def find(self, text: str) -> Iterator[Finding]:
        words = cap_words(text)
        if not words:
            return
        hits = self._place_hits(words)
        if hits:
            yield from self._runs(text, cap_spans(text), hits)

    def _place_hits(self, words: list[str]) -> list[int]:
        """Indices of the capitalised words that are places at all."""
        lows = list(map(_STRIP_DOT, map(str.lower, words)))
        if _place_words().isdisjoint(lows):  # cheap C-level pass first
            return []
        place = lexicon.PLACE
        return [
            i for i, en in enumerate(map(self._lex.get, lows)) if en is not None and en[0] & place
        ]

    def _runs(self, text: str, spans: list[tuple[int, int]], hits: list[int]) -> Iterator[Finding]:
        """Join adjacent place words ("New South Wales", "Lyon, France") into one finding,
        kept when one of its words is a strong place (not a word or name, or cued)."""
        run_start = run_end = -1
        run_strong = False
        prev_i = -2
        for i in hits:
            s, e = spans[i]
            if text[e - 1] == ".":
                e -= 1
            tok = text[s:e]
            low = tok.lower()
            if low in lexicon.STOP or len(tok) < 3:
                continue  # a break in the run (the index gap below ends it)
            strong = self._strong(text, s, low)
            if run_start >= 0 and i == prev_i + 1 and text[run_end:s] in (" ", ", "):
                run_end = e
                run_strong = run_strong or strong
            else:
                if run_start >= 0 and run_strong:
                    yield Finding(run_start, run_end, Label.LOCATION, 0.5, self.name, "place")
                run_start, run_end, run_strong = s, e, strong
            prev_i = i
        if run_start >= 0 and run_strong:
            yield Finding(run_start, run_end, Label.LOCATION, 0.5, self.name, "place")

    def _strong(self, text: str, s: int, low: str) -> bool:
        """A place word that is neither a common word nor a first name, or one after a
        cue ("in", "from", "near", ...)."""
        flags = self._lex[low][0]
        return not flags & (lexicon.WORD | lexicon.FIRST) or bool(
            _CUE.search(text, max(0, s - 12), s)
        )


_STRIP_DOT = operator.methodcaller("rstrip", ".")


@lru_cache(maxsize=1)
def _place_words() -> frozenset[str]:
    """Every lexicon token flagged as a place (lower case)."""
    return frozenset(w for w, (f, _) in lexicon.names().items() if f & lexicon.PLACE)
