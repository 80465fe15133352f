"""Token classes of the person recognizer: what one word can be, cached per word.

* :func:`kind`: what a capitalised word alone can be, whatever its context: ``INERT``
  (never a name alone), ``COMMON`` (a common word or a place: a name only after a field
  label) or ``OTHER``;
* :func:`flags`: a token's lexicon bits (``FIRST``, ``LAST``, ``WORD``, ``PLACE``);
* :func:`word_info`: per raw capitalised word, how much to trim ("Smith." -> 1,
  "Smith's" -> 2), the kind of the trimmed word and whether it starts a multi-word place.

The caches are shared by all instances (there is one lexicon) and bounded.
"""

from __future__ import annotations

from functools import lru_cache

from optin.privacy.detect import lexicon
from optin.privacy.detect.recognizers.person.words import CONTRACTIONS, NOT_NAMES

INERT, COMMON, OTHER = 0, 1, 2
NAME_BITS = lexicon.FIRST | lexicon.LAST
NOT_NAME_FLAGS = lexicon.WORD | lexicon.PLACE
_CACHE_MAX = 200_000

#: per capitalised word: its :func:`kind`
KINDS: dict[str, int] = {}
#: per raw capitalised word: (characters to trim, kind of the trimmed word, place head)
WORDS: dict[str, tuple[int, int, bool]] = {}
#: per token (as written): its lexicon flags
FLAGS: dict[str, int] = {}


@lru_cache(maxsize=1)
def plain_first_names() -> frozenset[str]:
    """First names that are neither common words nor places (safe in lower case)."""
    bad = lexicon.WORD | lexicon.PLACE
    return frozenset(
        tok for tok, (f, _) in lexicon.names().items() if f & lexicon.FIRST and not f & bad
    )


@lru_cache(maxsize=1)
def place_heads() -> frozenset[str]:
    """First words of the multi-word place names."""
    return frozenset(p.split()[0] for p in lexicon.multiword_places())


def is_initial(tok: str) -> bool:
    """ "J.", "J" or dotted initials "C.A."."""
    n = len(tok)
    if n == 1:
        return tok.isupper()
    if n and tok[1] != ".":
        return False  # most words: the loop below would stop at its first pair
    return n % 2 == 0 and all(tok[i].isupper() and tok[i + 1] == "." for i in range(0, n, 2))


def _inert(tok: str, low: str) -> bool:
    return (
        len(tok) < 2
        or tok.isupper()
        or low in lexicon.STOP
        or low.rstrip(".") in lexicon.TITLES
        or low in NOT_NAMES
        or low.replace("’", "'") in CONTRACTIONS
    )


def kind(tok: str) -> int:
    """What a capitalised word alone can be, whatever its context (cached per word).

    INERT: never a name alone. COMMON: a common word or a place that is not a name;
    it can be a name only as a field value ("Name: Rose") or a speaker label.
    """
    low = tok.lower()
    if _inert(tok, low):
        k = INERT
    else:
        f, rank = lexicon.names().get(low, (0, 0))
        popular = bool(f & lexicon.FIRST) and 0 < rank <= 150
        common = (f & lexicon.WORD and not popular) or (
            f & lexicon.PLACE and not f & (lexicon.FIRST | lexicon.LAST)
        )
        k = COMMON if common and tok[1:] == tok[1:].lower() else OTHER
    if len(KINDS) < _CACHE_MAX:
        KINDS[tok] = k
    return k


def cached_kind(tok: str) -> int:
    k = KINDS.get(tok)
    return kind(tok) if k is None else k


def flags(tok: str) -> int:
    """The lexicon flags of ``tok`` (looked up lower-cased; cached as written)."""
    f = FLAGS.get(tok)
    if f is None:
        entry = lexicon.names().get(tok.lower())
        f = entry[0] if entry else 0
        if len(FLAGS) < _CACHE_MAX:
            FLAGS[tok] = f
    return f


def word_only(tok: str) -> bool:
    """A common English word that is neither a first name nor a surname ("Location")."""
    f = flags(tok)
    return bool(f & lexicon.WORD) and not f & (lexicon.FIRST | lexicon.LAST)


def word_info(w: str) -> tuple[int, int, bool]:
    """(characters to trim, kind of the trimmed word, first word of a multi-word
    place) of a capitalised word."""
    n = len(w)
    trim = 0
    if w[-1] == "." and n > 2 and w[:-1].lower() not in lexicon.TITLES:
        trim = 1
    if n - trim > 2 and w[n - trim - 1] == "s" and w[n - trim - 2] in "'’":
        trim += 2
    tok = w[: n - trim]
    info = (trim, cached_kind(tok), tok.lower() in place_heads())
    if len(WORDS) < _CACHE_MAX:
        WORDS[w] = info
    return info


def camel(tok: str) -> bool:
    """ "JohnResearcher62", "MartinArt", "AarnavBawa": a first name glued to more."""
    if not any(ch.isupper() for ch in tok[1:]) and not any(ch.isdigit() for ch in tok):
        return False
    for k in range(3, min(len(tok), 12)):
        head, rest = tok[:k], tok[k:]
        if rest[:1].isupper() or rest[:1].isdigit() or rest[:1] == "_":
            f = flags(head)
            if f & lexicon.FIRST and not f & lexicon.WORD:
                return True
    return False
