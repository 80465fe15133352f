"""Cue finders of the person recognizer: names announced by the text around them.

* :func:`field_values`: the value after "Name:", "Username:", "Posted by:" (0.8);
* :func:`introduced`: the word(s) after "my name is", "call me", "named" (0.75);
* :func:`lowercase`: "olga krylova" (a plain first name + a surname, 0.65), two plain
  first names in one enumeration (0.6), any plain first name (``alone=True``, 0.5);
* :func:`lists`: the other items of an enumeration that holds a name, "Rudi, Jackson
  and Campos", and pairs such as "Dale and White were" (0.6);
* :func:`propagate`: every later mention of a word of a name already found (0.75).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from optin.privacy.detect import lexicon
from optin.privacy.detect.recognizers.person.rules import alpha
from optin.privacy.detect.recognizers.person.tokens import flags, plain_first_names
from optin.privacy.detect.recognizers.person.words import FIELD_KEYS, NOT_NAMES
from optin.privacy.detect.scan import lower, windows_around
from optin.privacy.findings import Finding, Label

FIRST, LAST, WORD, PLACE = lexicon.FIRST, lexicon.LAST, lexicon.WORD, lexicon.PLACE

_LOWER_NEXT = re.compile(r"[a-z]{3,}(?=['’]s\b|(?![\w@\-'’]))")
_LOWER_BEFORE = re.compile(r"[\w@#&/.\-'’]").match
_LOWER_AFTER = re.compile(r"[\w@\-'’]").match
_PAIR_VERB = re.compile(
    r"([A-Z](?<![\w'’\-].)[^\W\d_]+)[ \t]+(?:and|&)[ \t]+([A-Z][^\W\d_]+)[ \t]+"
    r"(?:were|are|have|had)\b"
)
_POSSESSIVE = ("'s", "’s")
_NAME_INTRO = re.compile(
    r"\b(?:(my|his|her|their|your|maiden|first|last|full|middle|sur|nick)[ \t]+)?name"
    r"(?:[ \t]+is|[ \t]+was|'s|’s|:|\?)[ \t]+"
    r"|\b(?:call(?:s|ed)?[ \t]+me|named|known[ \t]+as|called)[ \t]+"
)
_NAME_WORDS = re.compile(r"([^\W\d_][\w'’\-]*)(?:[ \t]+([^\W\d_][\w'’\-]*))?")
_LIST_SEP = r"(?:,[ \t]*(?:and[ \t]+|&[ \t]+)?|,?[ \t]+(?:and|&)[ \t]+)"
_LIST_NEXT = re.compile(_LIST_SEP + r"([^\W\d_][\w'’\-]*)(?![\w'’\-])")
_LIST_PREV = re.compile(r"(?<![\w'’\-])([^\W\d_][\w'’\-]*)" + _LIST_SEP + r"$")
_FIELD_VALUE = re.compile(
    r"(?im)(?:^|[|(\[]\s*|\s)(?:name|full name|username|user name|user|author|posted by|handle)"
    r"[ \t]*:[ \t]*([A-Za-z][\w.\-]{1,30}(?:[ \t][A-Z][\w.\-]{1,30})?)"
)


def field_values(text: str, name: str) -> Iterator[Finding]:
    """Lower-case / mixed tokens after "Name:" / "Username:" field labels."""
    low = lower(text)
    if not any(k in low for k in FIELD_KEYS):
        return
    colons: list[int] = []
    p = text.find(":")
    while p >= 0:
        if any(k in low[max(0, p - 12) : p] for k in FIELD_KEYS):
            colons.append(p)
        p = text.find(":", p + 1)
    wins = windows_around(text, colons, 14, 66)
    for m in (m for lo, hi in wins for m in _FIELD_VALUE.finditer(text, lo, hi)):
        yield Finding(m.start(1), m.end(1), Label.PERSON, 0.8, name, "field label")


def _lower_spans(text: str, names: frozenset[str]) -> list[tuple[int, int]]:
    """Where the plain first names ``names`` occur, with _LOWER_TOKEN's word boundaries."""
    spans: list[tuple[int, int]] = []
    n = len(text)
    for nm in names:
        s = text.find(nm)
        while s >= 0:
            e = s + len(nm)
            if (s == 0 or not _LOWER_BEFORE(text[s - 1])) and (e == n or not _LOWER_AFTER(text[e])):
                spans.append((s, e))
            s = text.find(nm, e)
    spans.sort()
    return spans


def _lower_surname(text: str, e: int, lex: dict[str, tuple[int, int]]) -> int:
    """The end of a lower-case surname right after a first name ending at ``e`` (or -1)."""
    nxt = _LOWER_NEXT.match(text, e + 1) if text[e : e + 1] == " " else None
    if nxt is None:
        return -1
    f2, rank = lex.get(nxt.group(0), (0, 0))
    if f2 & (LAST | FIRST) and not f2 & (WORD | PLACE):
        return nxt.end()
    if f2 & LAST and not f2 & PLACE and 0 < rank <= 1000:
        return nxt.end()  # "jane smith": a common surname that is also a word
    return -1


def _in_name_list(text: str, s: int, e: int, names: frozenset[str]) -> bool:
    """Two plain first names in one enumeration: "silvana, adam, ... and caleb"."""
    m = _LIST_NEXT.match(text, e)
    if m is not None and m.group(1) in names:
        return True
    m = _LIST_PREV.search(text, max(0, s - 40), s)
    return m is not None and m.group(1) in names


def lowercase(text: str, name: str, alone: bool) -> Iterator[Finding]:
    """Lower-case names: "olga krylova" (pairs), "emma" alone (``alone=True``)."""
    # words split at spaces, commas and full stops (a name glued to other punctuation,
    # "(emma", is missed here)
    names = plain_first_names().intersection(text.replace(",", " ").replace(".", " ").split())
    if not names:
        return
    names -= lexicon.STOP
    lex = lexicon.names()
    for s, e in _lower_spans(text, names):
        end = _lower_surname(text, e, lex)
        if end >= 0:
            yield Finding(s, end, Label.PERSON, 0.65, name, "lower-case name")
        elif alone:
            yield Finding(s, e, Label.PERSON, 0.5, name, "lower-case first name")
        elif _in_name_list(text, s, e, names):
            yield Finding(s, e, Label.PERSON, 0.6, name, "lower-case list of names")


def _intro_end(w: re.Match[str], first: str) -> int:
    """The end of an introduced name: the second word too when it is a name-like word
    of the same case."""
    second = w.group(2)
    if second is not None and second.lower() not in lexicon.STOP:
        f2 = flags(second)
        same_case = first[:1].isupper() == second[:1].isupper()
        if same_case and (f2 == 0 or f2 & (FIRST | LAST)):
            return w.end(2)
    return w.end(1)


def introduced(text: str, low: str, name: str) -> Iterator[Finding]:
    """The word(s) after "my name is", "her maiden name is", "call me", "named"."""
    cues: list[int] = []
    for key in ("name", "call", "known as"):
        p = low.find(key)
        while p >= 0:
            cues.append(p)
            p = low.find(key, p + 1)
    cues.sort()
    wins = windows_around(text, cues, 24, 16)
    for m in (m for lo, hi in wins for m in _NAME_INTRO.finditer(low, lo, hi)):
        w = _NAME_WORDS.match(text, m.end())
        if w is None:
            continue
        first = w.group(1)
        f1 = flags(first)
        strong = m.group(1) is not None  # "my name is", "maiden name is"
        if first.lower() in lexicon.STOP or (not strong and f1 & WORD and not f1 & (FIRST | LAST)):
            continue
        yield Finding(w.start(1), _intro_end(w, first), Label.PERSON, 0.75, name, "introduced name")


class _Enumeration:
    """The state of :func:`lists`: spans seen, findings added, findings still to extend."""

    def __init__(self, text: str, found: list[Finding], name: str) -> None:
        self.text = text
        self.name = name
        self.seen = {(f.start, f.end) for f in found}
        self.out: list[Finding] = []
        self.queue = [f for f in found if f.score >= 0.55]

    def add(self, start: int, end: int, why: str) -> None:
        if (start, end) in self.seen:
            return
        self.seen.add((start, end))
        g = Finding(start, end, Label.PERSON, 0.6, self.name, why)
        self.out.append(g)
        self.queue.append(g)

    def pairs(self) -> None:
        """ "Dale and White were precision engineers": two people."""
        for m in _PAIR_VERB.finditer(self.text):
            if list_item(m.group(1), True) and list_item(m.group(2), True):
                for k in (1, 2):
                    self.add(m.start(k), m.end(k), "pair of names")

    def right(self, f: Finding, seed_upper: bool) -> None:
        """Items to the right of ``f``."""
        pos = f.end
        while True:
            m = _LIST_NEXT.match(self.text, pos)
            if m is None or not list_item(m.group(1), seed_upper):
                break
            pos = m.end(1)
            self.add(m.start(1), pos, "list of names")

    def left(self, f: Finding, seed_upper: bool) -> None:
        """The item to the left of ``f``."""
        text = self.text
        prev = _LIST_PREV.search(text, max(0, f.start - 40), f.start)
        if prev is not None and list_item(prev.group(1), seed_upper):
            self.add(prev.start(1), prev.end(1), "list of names")


def lists(text: str, found: list[Finding], name: str) -> list[Finding]:
    """Other items of an enumeration that holds a name: "Rudi, Jackson and Campos"."""
    enum = _Enumeration(text, found, name)
    if " and " in text and (
        " were " in text or " are " in text or " have " in text or " had " in text
    ):
        enum.pairs()
    queue = enum.queue
    while queue:
        f = queue.pop()
        seed_upper = text[f.start].isupper()
        nxt = text[f.end : f.end + 5]
        if nxt[:1] == "," or nxt == " and " or nxt[:3] == " & ":
            enum.right(f, seed_upper)
        if text[max(0, f.start - 6) : f.start].rstrip().endswith((",", " and", " &")):
            enum.left(f, seed_upper)
    return enum.out


def list_item(tok: str, upper: bool) -> bool:
    """Whether ``tok`` can be an item of an enumeration of names (of the seed's case)."""
    if tok[:1].isupper() != upper or tok.isupper() or len(tok) < 2 or not alpha(tok):
        return False
    low = tok.lower()
    if low in lexicon.STOP or low in lexicon.TITLES or low in NOT_NAMES:
        return False
    f = flags(tok)
    if f & WORD and not f & (FIRST | LAST):
        return False
    return not (f & PLACE and not f & FIRST)


def _name_words(text: str, found: list[Finding]) -> set[str]:
    """The capitalised words of the confident names found (score >= 0.7)."""
    seen: set[str] = set()
    for f in found:
        if f.score < 0.7:
            continue
        for part in text[f.start : f.end].split():
            p = part.strip('.,:;"“”()')
            if p.endswith(_POSSESSIVE):
                p = p[:-2]
            if not alpha(p) or len(p) < 3 or p.lower() in lexicon.STOP or not p[:1].isupper():
                continue
            fl = flags(p)
            if not (fl & WORD and not fl & LAST):
                seen.add(p)
    return seen


def propagate(text: str, found: list[Finding], name: str) -> Iterator[Finding]:
    """Every mention of a word of a confident name, as a whole word."""
    n = len(text)
    names = _name_words(text, found)
    # a confident name with a word that is not repeated ("Will Turner", "Jan de Vries"):
    # a repetition of its other words inside it must not outrank it and cut it
    cut = [
        (f.start, f.end, f.score)
        for f in found
        if f.score >= 0.7
        and any(w.strip(".,") not in names for w in text[f.start : f.end].split()[:-1])
    ]
    for p in sorted(names):
        pos = text.find(p)
        while pos >= 0:
            end = pos + len(p)
            before = text[pos - 1] if pos else " "
            after = text[end] if end < n else " "
            if not (before.isalnum() or before in "@#_") and not (after.isalnum() or after == "_"):
                score = 0.75
                for a, b, sc in cut:
                    if a <= pos and end <= b and b - a > end - pos:
                        score = min(score, sc - 0.01)
                yield Finding(pos, end, Label.PERSON, score, name, "repeated name")
            pos = text.find(p, end)
