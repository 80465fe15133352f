"""The rule tables of the person recognizer: when one word, or a run of words, is a name.

Each table is tried in order; the first rule whose test holds decides. A rule is
``(score, explanation, test)``; a ``score`` of ``None`` means "not a name, stop here".

:data:`SINGLE_RULES` judge one capitalised word (a :class:`Word`), in this order:

=====  ==========================  =================================================
0.8    field label                 after "Name:", "Posted by -" (:data:`FIELD_CUES`)
0.7    first name                  a first name that is neither a word nor a place
0.6    first name (also a place)   a top-1000 first name, no "in"/"from" before it
0.7    speaker label               "Anna: ..." at the start of a line or sentence
0.6    user name                   CamelCase glued to a first name ("JohnArt62")
stop                               a common word or a place that is not a name
0.65   speaker of said/says        "Kowalczyk said"
0.6    unknown word + verb         "Vsevolod is very reliable"
0.65   vocative                    ", Anna!"
stop                               sentence-initial
0.6    popular first name          a top-150 first name that is also a word
0.55   surname                     a surname, not a word or place (``surnames_alone``)
0.5    unknown capitalised word    no cue before it (``unknown_words``)
stop                               no cue before it (:data:`CUES`)
0.65   context cue                 a known name after a cue ("thanks to Rose")
0.6    context cue, unknown word   an unknown word after a strong cue ("cc Omar")
=====  ==========================  =================================================

:data:`MULTI_RULES` judge a run of 2-4 words (a :class:`Run`), after trailing words
that are not names ("John Smith Foundation") are trimmed: a first name (or initial) and
name-like words (0.85), "First J. Last" (0.8), an unknown word and a surname (0.7),
unknown alphabetic words next to known names ("Olubukunola Obasa", 0.6).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from optin.privacy.detect import lexicon
from optin.privacy.detect.context import ends_with_phrase, phrase_suffixes
from optin.privacy.detect.recognizers.person.tokens import (
    NAME_BITS,
    NOT_NAME_FLAGS,
    camel,
    flags,
    is_initial,
)
from optin.privacy.detect.recognizers.person.words import (
    CONTRACTIONS,
    CUES,
    FIELD_CUES,
    NOT_NAMES,
    STRONG_CUES,
    SURNAME_STOPS,
    TECH_TAILS,
)
from optin.privacy.findings import Finding, Label

FIRST, LAST, WORD, PLACE = lexicon.FIRST, lexicon.LAST, lexicon.WORD, lexicon.PLACE

ALPHA = re.compile(r"^[^\W\d_]+(?:-[^\W\d_]+)*$")


def alpha(tok: str) -> bool:
    """``ALPHA.match(tok) is not None``; a word of letters alone (most) without the
    pattern (a letter is always ``[^\\W\\d_]``)."""
    return tok.isalpha() or ALPHA.match(tok) is not None


_SENT_END = frozenset('.!?\n\r\t"“”:;|')
_VERB_AFTER = re.compile(
    r"[ \t]+(?:began|begins|lives|lived|shouted|went|loves|loved|wants|wanted|thinks|thought|"
    r"smiled|cried|laughed|is very|was born|has been married|married)\b"
)
_SPEECH_AFTER = re.compile(
    r"[ \t]+(?:said|says|explained|explains|told|asked|wrote|writes|added|replied|tweeted|"
    r"posted|announced|argued|claimed|noted|recalled)\b"
)
_PLACE_CUE = re.compile(r"(?i)(?:\bin|\bfrom|\bnear|\bat|\bto|\bvisit(?:ing|ed)?|,)[ \t]*$")


class Word:
    """One capitalised word ``text[s:e]`` and its lexicon entry."""

    __slots__ = (
        "_cues",
        "after",
        "e",
        "f",
        "is_place",
        "is_word",
        "popular",
        "rank",
        "s",
        "text",
        "tok",
    )

    def __init__(self, text: str, s: int, e: int, tok: str, f: int, rank: int) -> None:
        self.text, self.s, self.e, self.tok, self.f, self.rank = text, s, e, tok, f, rank
        self.is_word = bool(f & WORD)
        self.is_place = bool(f & PLACE)
        self.popular = bool(f & FIRST) and 0 < rank <= 150
        self.after = text[e : e + 1]
        self._cues: list[str] | None = None

    def cues(self) -> list[str]:
        """The phrases of the last 1-3 words before the word (computed once)."""
        if self._cues is None:
            self._cues = phrase_suffixes(self.text, self.s)
        return self._cues


# -- one word ------------------------------------------------------------------------------


def _field_label(w: Word) -> bool:
    text, s = w.text, w.s
    return text[max(0, s - 3) : s].rstrip(" \t").endswith((":", "-", "–")) and ends_with_phrase(
        text, len(text[:s].rstrip(" \t:-–")), FIELD_CUES
    )


def _first_name(w: Word) -> bool:
    return bool(w.f & FIRST) and not w.is_word and not w.is_place


def _first_name_place(w: Word) -> bool:
    return (
        bool(w.f & FIRST)
        and w.is_place
        and not w.is_word
        and 0 < w.rank <= 1000
        and not _PLACE_CUE.search(w.text, max(0, w.s - 12), w.s)
    )


def _speaker_label(w: Word) -> bool:
    text, s = w.text, w.s
    return (
        w.after == ":"
        and w.tok.lower() not in NOT_NAMES
        and (
            s == 0 or text[s - 1] in '\n"“>' or text[max(0, s - 2) : s] in (". ", "? ", "! ", '" ')
        )
        and not (w.is_word and not w.f & FIRST)
    )


def _user_name(w: Word) -> bool:
    tok = w.tok
    return (
        (w.f == 0 or bool(w.f & FIRST))
        and tok[1:] != tok[1:].lower()
        and camel(tok)
        and not _camel_product(tok)
    )


def _common(w: Word) -> bool:
    return (w.is_word and not w.popular) or (w.is_place and not w.f & NAME_BITS)


def _speaker_of_verb(w: Word) -> bool:
    return (
        w.after == " "
        and _SPEECH_AFTER.match(w.text, w.e) is not None
        and (w.f == 0 or bool(w.f & NAME_BITS))
    )


def _unknown_subject(w: Word) -> bool:
    # "Vsevolod is very reliable", "Järvilehto began writing": an unknown word as the
    # subject of a verb, even at the start of a sentence
    return (
        w.f == 0 and w.after == " " and _VERB_AFTER.match(w.text, w.e) is not None and alpha(w.tok)
    )


def _vocative(w: Word) -> bool:
    return (
        w.text[max(0, w.s - 2) : w.s] == ", "
        and w.after in ("!", "?")
        and (w.f == 0 or bool(w.f & NAME_BITS))
    )


def _sentence_initial(w: Word) -> bool:
    text, s = w.text, w.s
    return (
        s == 0
        or text[s - 1] in _SENT_END
        or (s >= 2 and text[s - 1] == " " and text[s - 2] in _SENT_END)
    )


def _popular(w: Word) -> bool:
    return w.popular and not w.is_place


def _surname(w: Word) -> bool:
    return bool(w.f & LAST) and not w.is_word and not w.is_place


def _no_cue(w: Word) -> bool:
    return CUES.isdisjoint(w.cues())


def _unknown_word(w: Word) -> bool:
    return _no_cue(w) and w.f == 0 and alpha(w.tok) and len(w.tok) >= 3


_PLACE_BEFORE = re.compile(
    r"(?i)(?:\b(?:in|from|near|at|en|em|na|no|nach|aus|à|visit(?:ing|ed)?|based[ \t]+in|"
    r"(?:moving|move|moved|relocating|relocated|flying|trip|travel(?:l?ing)?|back|going|"
    r"way)[ \t]+to))[ \t]+$"
)


def _place_after_place_cue(w: Word) -> bool:
    # "Moving to Boston", "en Austin": a place name that is also a first name, where a
    # place is expected
    return w.is_place and _PLACE_BEFORE.search(w.text, max(0, w.s - 24), w.s) is not None


def _known_after_cue(w: Word) -> bool:
    return bool(w.f & NAME_BITS)


def _unknown_after_strong_cue(w: Word) -> bool:
    return not STRONG_CUES.isdisjoint(w.cues())


#: (score or None to stop, explanation, test, option that enables it or "")
SingleRule = tuple[float | None, str, Callable[[Word], bool], str]

SINGLE_RULES: tuple[SingleRule, ...] = (
    (0.8, "field label", _field_label, ""),
    (0.7, "first name", _first_name, ""),
    (0.6, "first name (also a place)", _first_name_place, ""),
    (0.7, "speaker label", _speaker_label, ""),
    (0.6, "user name", _user_name, ""),
    (None, "common word or place", _common, ""),
    (0.65, "speaker of said/says", _speaker_of_verb, ""),
    (0.6, "unknown word + verb", _unknown_subject, ""),
    (0.65, "vocative", _vocative, ""),
    (None, "sentence-initial", _sentence_initial, ""),
    (0.6, "popular first name", _popular, ""),
    (0.55, "surname", _surname, "surnames_alone"),
    (0.5, "unknown capitalised word", _unknown_word, "unknown_words"),
    (None, "no context cue", _no_cue, ""),
    (None, "place after a place cue", _place_after_place_cue, ""),
    (0.65, "context cue", _known_after_cue, ""),
    (0.6, "context cue, unknown word", _unknown_after_strong_cue, ""),
)

Rules = Sequence[tuple[float | None, str, Callable[[Word], bool]]]


def single_rules(options: dict[str, bool]) -> Rules:
    """The single-word rules enabled by ``options`` (rule option name -> on)."""
    return tuple(
        (score, why, test) for score, why, test, opt in SINGLE_RULES if not opt or options[opt]
    )


def single(
    rules: Rules, text: str, s: int, e: int, lex: dict[str, tuple[int, int]], name: str
) -> Finding | None:
    """The finding for the capitalised word ``text[s:e]`` alone, if a rule says so."""
    tok = text[s:e]
    if len(tok) < 2 or tok.isupper():
        return None
    entry = lex.get(tok.lower())
    f, rank = entry if entry is not None else (0, 0)
    w = Word(text, s, e, tok, f, rank)
    for score, why, test in rules:
        if test(w):
            return None if score is None else Finding(s, e, Label.PERSON, score, name, why)
    return None


# -- a run of words ------------------------------------------------------------------------


class Run:
    """The words of a candidate multi-word name (trailing non-names trimmed)."""

    __slots__ = ("first_ok", "flags", "namey", "parts")

    def __init__(self, parts: list[str], fl: list[int], first_ok: bool) -> None:
        self.parts = parts
        self.flags = fl
        self.first_ok = first_ok
        self.namey = [
            bool(f & NAME_BITS) or is_initial(p) or f == 0 for p, f in zip(parts, fl, strict=True)
        ]


def _first_and_names(r: Run) -> bool:
    fl = r.flags
    return (
        r.first_ok
        and all(r.namey[1:])
        and not all(f & WORD for f in fl)
        and not is_initial(r.parts[-1])
        and not _code_after_word(r.parts)
        and (any(f & NAME_BITS for f in fl[1:]) or not fl[0] & WORD)
    )


def _code_after_word(parts: list[str]) -> bool:
    """A word then a 1-2 letter capital code: "Paris FR", "Austin TX", "London SW1A"."""
    last = parts[-1]
    return len(last) <= 2 and last.isalpha() and last.isupper() and not parts[0].isupper()


def _first_initial_last(r: Run) -> bool:
    f0 = r.flags[0]
    return (
        len(r.parts) == 3
        and is_initial(r.parts[1])
        and (not f0 & WORD or bool(f0 & FIRST))
        and (not r.flags[2] & WORD or (bool(f0 & FIRST) and not f0 & WORD))
    )


def _unknown_and_surname(r: Run) -> bool:
    last = r.flags[-1]
    return (
        r.flags[0] == 0
        and bool(last & LAST)
        and not last & WORD
        and all(r.namey)
        and len(r.parts) <= 3
    )


def _unknown_names(r: Run) -> bool:
    # "Olubukunola Obasa", "Vidica Zakoč": foreign names the lists do not hold
    fl = r.flags
    return (
        len(r.parts) <= 3
        and any(f == 0 for f in fl)
        and all(f == 0 or (f & NAME_BITS and not f & NOT_NAME_FLAGS) for f in fl)
        and not is_initial(r.parts[-1])
        and all(map(alpha, r.parts))
    )


def _word_first_and_surname(r: Run) -> bool:
    # "Robin Chambers", "Heather Gross", "Rose Clay": a first name and a surname that
    # are both common words too
    f0, f1 = r.flags[0], r.flags[-1]
    return (
        len(r.parts) == 2
        and 0 < lexicon.names().get(r.parts[0].lower(), (0, 0))[1] <= 1100
        and bool(f0 & FIRST)
        and bool(f1 & LAST)
        and not (f0 | f1) & PLACE
        and r.parts[1].lower() not in NOT_NAMES
    )


def _unknown_and_word_surname(r: Run) -> bool:
    # "Guiying Song", "Xiuying Tang", "Da-eun Shin": a first name the lists do not hold
    # and a common surname that is also a word
    last = r.flags[-1]
    return (
        len(r.parts) == 2
        and r.flags[0] == 0
        and len(r.parts[0]) >= 3
        and alpha(r.parts[0])
        and bool(last & LAST)
        and not last & PLACE
        and 0 < lexicon.names().get(r.parts[1].lower(), (0, 0))[1] <= 3000
        and r.parts[1].lower() not in NOT_NAMES
    )


MULTI_RULES: tuple[tuple[float, str, Callable[[Run], bool]], ...] = (
    (0.85, "name", _first_and_names),
    (0.8, "name", _first_initial_last),
    (0.7, "name + surname", _unknown_and_surname),
    (0.6, "unknown names", _unknown_names),
    (0.6, "first name + surname (also words)", _word_first_and_surname),
    (0.6, "unknown name + surname (also a word)", _unknown_and_word_surname),
)


def _initial_next(text: str, run: list[tuple[int, int]], i: int, f0: int) -> bool:
    """For a known word that is no first name: only "Xxx J. Yyy" (a non-word, an
    initial, a non-word) can still start a name."""
    if f0 & WORD or i + 2 >= len(run):
        return False
    s1, e1 = run[i + 1]
    return is_initial(text[s1:e1])


def _collect(text: str, run: list[tuple[int, int]], i: int, f0: int) -> list[str]:
    """Up to four words of ``run`` from ``i``, stopping at a stop word or a heading."""
    n = len(run)
    j = i + 1
    parts = [text[run[i][0] : run[i][1]]]
    while j < n and j - i < 4:
        t = text[run[j][0] : run[j][1]]
        if t.lower() in lexicon.STOP and not is_initial(t):
            if j == i + 1 and f0 & FIRST and not f0 & WORD and t.lower() in SURNAME_STOPS:
                parts.append(t)  # "Ivan King", "Diana Prince"
            break
        if t.isupper() and len(t) > 2:
            break
        parts.append(t)
        j += 1
    return parts


def _trim(parts: list[str], fl: list[int]) -> None:
    """Drop trailing words that are clearly not names ("John Smith Foundation"), except
    in "First J. Last"."""
    f0 = fl[0]
    if len(parts) == 3 and is_initial(parts[1]) and f0 & FIRST and not f0 & WORD:
        return
    while len(parts) > 1 and fl[-1] & NOT_NAME_FLAGS and not fl[-1] & NAME_BITS:
        parts.pop()
        fl.pop()


_CAMEL_PART = re.compile(r"[A-Z][a-z]+")


def _camel_product(tok: str) -> bool:
    """ "DevOpsDays", "GitHub": a CamelCase word with a tech part ("ops", "hub") is a
    product or event, not a user name ("SachaBaronCohen" is one)."""
    rest = tok[1:]
    if not rest or rest.islower():
        return False
    parts = _CAMEL_PART.findall(tok)
    return len(parts) >= 2 and any(p.lower() in TECH_TAILS for p in parts[1:])


def multi(text: str, run: list[tuple[int, int]], i: int, name: str, out: list[Finding]) -> int:
    """Try a multi-word name starting at run[i]; emit it and return the next index."""
    t0 = text[run[i][0] : run[i][1]]
    if (
        t0.lower() in NOT_NAMES
        or t0.lower().replace("’", "'") in CONTRACTIONS
        or _camel_product(t0)
    ):
        return i  # "Congrats Elizabeth", "Gracias Ross Hughes": the greeting is no name
    f0 = flags(t0)
    first_ok = bool(f0 & FIRST) or is_initial(t0)
    if not first_ok and f0 and not _initial_next(text, run, i, f0):
        return i
    parts = _collect(text, run, i, f0)
    if len(parts) < 2:
        return i
    fl = [flags(p) for p in parts]
    _trim(parts, fl)
    if len(parts) < 2:
        return i
    r = Run(parts, fl, first_ok)
    j = i + len(parts)
    for score, why, test in MULTI_RULES:
        if test(r):
            out.append(Finding(run[i][0], run[j - 1][1], Label.PERSON, score, name, why))
            return j
    return i
