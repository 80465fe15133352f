"""Person names from a shipped lexicon, capitalisation and context cues.

How a name is found (scores in brackets; the analyzer resolves overlaps by score):

* a title before capitalised words: "Dr. Jane Roe", "Mr Murray" (0.9);
* a run of 2-4 capitalised words that starts with a known first name (or an initial)
  and continues with surnames, initials or unknown capitalised words (0.85);
* an unknown capitalised word followed by a known surname (0.7);
* a single known first name that is not also a common English word or a place (0.7);
* a single known surname, not a common word or place, not sentence-initial (0.55);
* any capitalised word after a cue such as "thanks to", "congrats", "cc", "hi",
  "Name:", "posted by" (0.65 / 0.8 for field labels);
* CamelCase user names that start with a first name, "JohnResearcher62" (0.6);
* every later mention of a word of a name already found in the same text (0.8),
  so "Mr Robert Murray ... Murray" is caught twice;
* optionally (``lowercase=True``, the ``accurate`` profile) lower-case first names that
  are not common words ("emma", "ryan") (0.5).

Negatives: function words, months, days, common capitalised nouns, hashtags, words
after ``@``/``#``, all-caps headings (unless the lexicon says first name + surname).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache

from optin.privacy.detect import lexicon
from optin.privacy.detect.base import Recognizer, register
from optin.privacy.detect.context import ends_with_phrase
from optin.privacy.detect.scan import cap_spans
from optin.privacy.findings import Finding, Label

_LOWER_TOKEN = re.compile(r"[a-z](?<![\w@#&/.\-'’].)[a-z]{2,}(?![\w@\-'’])")
_LOWER_RUN = re.compile(r"[a-z](?<![A-Za-z].)[a-z]{2,}")
_PARTICLES = frozenset(
    [
        "van",
        "von",
        "de",
        "der",
        "den",
        "da",
        "di",
        "del",
        "della",
        "la",
        "le",
        "du",
        "bin",
        "binti",
        "al",
        "el",
        "ibn",
        "y",
        "dos",
        "das",
        "st",
    ]
)
_CUES = frozenset(
    """thanks to|thank you|thanks|thx|ty|congrats|congrats to|congratulations|
    congratulations to|cc|hi|hey|hello|dear|welcome|shoutout to|shout out to|props to|
    kudos to|credit to|ask|met|meet|meeting|married|wife|husband|son|daughter|mother|father|
    brother|sister|friend|colleague|boss|manager|partner|fiance|fiancee|girlfriend|boyfriend|
    spouse|by|with|to|and|said|told|named|called|dm|ping|contact|love|miss|ft|feat|mom|mum|
    dad|uncle|aunt|cousin|grandma|grandpa|coach|mentor|teammate|neighbor|neighbour|
    says|asked|name is|named|calls me|call me|i am|i'm|this is|from|producer|director|
    directed by|written by|starring|feat""".replace("\n", "").split("|")
)
_WEAK_CUES = frozenset({"by", "with", "to", "and", "from", "love", "miss", "contact", "ask"})
_STRONG_CUES = _CUES - _WEAK_CUES
_FIELD_CUES = frozenset(
    """name|full name|first name|last name|surname|user|username|author|posted by|written by|
    reviewed by|signed|from|contact person|spouse|mother's name|father's name|
    emergency contact|employee|patient|applicant|client|customer""".replace("\n", "").split("|")
)
_ALPHA = re.compile(r"^[^\W\d_]+(?:-[^\W\d_]+)*$")
_SENT_END = frozenset('.!?\n\r\t"“”:;|')
_POSSESSIVE = ("'s", "’s")
_FIELD_TOKEN = re.compile(r"[A-Za-z][\w.\-]{1,30}")


@lru_cache(maxsize=1)
def _plain_first_names() -> frozenset[str]:
    """First names that are neither common words nor places (safe in lower case)."""
    bad = lexicon.WORD | lexicon.PLACE
    return frozenset(
        tok for tok, (f, _) in lexicon.names().items() if f & lexicon.FIRST and not f & bad
    )


def _is_initial(tok: str) -> bool:
    return (len(tok) == 2 and tok[1] == "." and tok[0].isupper()) or (
        len(tok) == 1 and tok.isupper()
    )


@register
class PersonRecognizer(Recognizer):
    name = "person"
    labels = frozenset({Label.PERSON})

    def __init__(
        self,
        surnames_alone: bool = True,
        lowercase: bool = False,
        propagate: bool = True,
        lowercase_pairs: bool = True,
        unknown_words: bool = False,
    ) -> None:
        self.unknown_words = unknown_words
        self.lowercase_pairs = lowercase_pairs
        self.surnames_alone = surnames_alone
        self.lowercase = lowercase
        self.propagate = propagate
        self._lex = lexicon.names()

    # -- token classes ------------------------------------------------------------
    def _flags(self, tok: str) -> int:
        entry = self._lex.get(tok.lower())
        return entry[0] if entry else 0

    def find(self, text: str) -> Iterator[Finding]:
        found: list[Finding] = []
        titles = lexicon.TITLES
        stop = lexicon.STOP
        # group capitalised words into runs separated by a single space (or a particle)
        runs: list[list[tuple[int, int]]] = []
        prev_end = -10
        for s, e in cap_spans(text):
            if e - s > 2 and text[e - 1] == "." and text[s : e - 1].lower() not in titles:
                e -= 1
            if text[e - 1] == "s" and text[e - 2] in "'’":
                e -= 2
            if e <= s:
                continue
            if runs and (
                (s == prev_end + 1 and text[prev_end] == " ")
                or (
                    s - prev_end < 8
                    and text[prev_end] == " "
                    and text[s - 1] == " "
                    and text[prev_end:s].strip() in _PARTICLES
                )
            ):
                runs[-1].append((s, e))
            else:
                runs.append([(s, e)])
            prev_end = e
        for run in runs:
            if len(run) == 1:
                # fast path: one capitalised word (most of them)
                s, e = run[0]
                tok = text[s:e]
                low = tok.lower()
                if low in stop or low.rstrip(".") in titles or (tok.isupper() and len(tok) > 1):
                    continue
                f = self._single(text, s, e)
                if f is not None:
                    found.append(f)
                continue
            self._run(text, run, found)
        found.extend(self._field_values(text))
        if self.lowercase_pairs or self.lowercase:
            found.extend(self._lowercase(text))
        if self.propagate and found:
            found.extend(self._propagate(text, found))
        return iter(found)

    def _run(self, text: str, run: list[tuple[int, int]], out: list[Finding]) -> None:
        i = 0
        n = len(run)
        while i < n:
            s, e = run[i]
            tok = text[s:e]
            low = tok.lower().rstrip(".")
            if low in lexicon.TITLES and tok[:1].isupper():
                j = i + 1
                names: list[tuple[int, int]] = []
                while j < n and len(names) < 3:
                    t = text[run[j][0] : run[j][1]]
                    if t.lower() in lexicon.STOP and not _is_initial(t):
                        break
                    names.append(run[j])
                    j += 1
                if names:
                    out.append(
                        Finding(
                            names[0][0], names[-1][1], Label.PERSON, 0.9, self.name, "title + name"
                        )
                    )
                    i = j
                    continue
                i += 1
                continue
            if low in lexicon.STOP or (tok.isupper() and len(tok) > 1):
                if tok.isupper() and len(tok) > 2:
                    j = self._allcaps(text, run, i, out)
                    if j > i:
                        i = j
                        continue
                i += 1
                continue
            j = self._multi(text, run, i, out)
            if j > i:
                i = j
                continue
            f = self._single(text, s, e)
            if f is not None:
                out.append(f)
            i += 1

    def _multi(self, text: str, run: list[tuple[int, int]], i: int, out: list[Finding]) -> int:
        """Try a multi-word name starting at run[i]; emit it and return the next index."""
        n = len(run)
        s0, e0 = run[i]
        t0 = text[s0:e0]
        f0 = self._flags(t0)
        first_ok = bool(f0 & lexicon.FIRST) or _is_initial(t0)
        j = i + 1
        parts = [t0]
        while j < n and j - i < 4:
            t = text[run[j][0] : run[j][1]]
            if t.lower() in lexicon.STOP and not _is_initial(t):
                break
            if t.isupper() and len(t) > 2:
                break
            parts.append(t)
            j += 1
        if len(parts) < 2:
            return i
        flags = [self._flags(p) for p in parts]
        tail = flags[1:]
        last_flags = flags[len(parts) - 1]
        namey = [
            bool(f & (lexicon.FIRST | lexicon.LAST)) or _is_initial(p) or f == 0
            for p, f in zip(parts, flags, strict=True)
        ]
        # trim trailing words that are clearly not names ("John Smith Foundation")
        while len(parts) > 1 and (
            (flags[-1] & lexicon.WORD and not flags[-1] & (lexicon.FIRST | lexicon.LAST))
            or (flags[-1] & lexicon.PLACE and not flags[-1] & (lexicon.FIRST | lexicon.LAST))
        ):
            parts.pop()
            flags.pop()
            namey.pop()
            j -= 1
        if len(parts) < 2:
            return i
        tail = flags[1:]
        last_flags = flags[-1]
        all_words = all(f & lexicon.WORD for f in flags)
        if first_ok and all(namey[1:]) and not all_words and not _is_initial(parts[-1]):
            known_tail = any(f & (lexicon.LAST | lexicon.FIRST) for f in tail)
            score = 0.85 if (known_tail or not f0 & lexicon.WORD) else 0.6
            if f0 & lexicon.WORD and not known_tail:
                return i
            out.append(Finding(run[i][0], run[j - 1][1], Label.PERSON, score, self.name, "name"))
            return j
        if (
            len(parts) == 3
            and _is_initial(parts[1])
            and not flags[0] & lexicon.WORD
            and not flags[2] & lexicon.WORD
        ):
            out.append(Finding(run[i][0], run[j - 1][1], Label.PERSON, 0.8, self.name, "name"))
            return j
        if (
            f0 == 0
            and last_flags & lexicon.LAST
            and not last_flags & lexicon.WORD
            and all(namey)
            and len(parts) <= 3
        ):
            out.append(
                Finding(run[i][0], run[j - 1][1], Label.PERSON, 0.7, self.name, "name + surname")
            )
            return j
        return i

    def _allcaps(self, text: str, run: list[tuple[int, int]], i: int, out: list[Finding]) -> int:
        if i + 1 >= len(run):
            return i
        a = text[run[i][0] : run[i][1]]
        b = text[run[i + 1][0] : run[i + 1][1]]
        fa, fb = self._flags(a), self._flags(b)
        if (
            fa & lexicon.FIRST
            and fb & lexicon.LAST
            and not (fa | fb) & (lexicon.WORD | lexicon.PLACE)
        ):
            out.append(
                Finding(run[i][0], run[i + 1][1], Label.PERSON, 0.6, self.name, "upper-case name")
            )
            return i + 2
        return i

    def _single(self, text: str, s: int, e: int) -> Finding | None:
        tok = text[s:e]
        if len(tok) < 2 or tok.isupper():
            return None
        entry = self._lex.get(tok.lower())
        f, rank = entry if entry is not None else (0, 0)
        if text[max(0, s - 3) : s].rstrip(" \t").endswith((":", "-", "–")) and ends_with_phrase(
            text, len(text[:s].rstrip(" \t:-–")), _FIELD_CUES
        ):
            return Finding(s, e, Label.PERSON, 0.8, self.name, "field label")
        is_word = bool(f & lexicon.WORD)
        is_place = bool(f & lexicon.PLACE)
        if f & lexicon.FIRST and not is_word and not is_place:
            return Finding(s, e, Label.PERSON, 0.7, self.name, "first name")
        if text[e : e + 1] == ":" and (
            s == 0 or text[s - 1] in '\n"“>' or text[max(0, s - 2) : s] in (". ", "? ", "! ", '" ')
        ):
            if not (is_word and not f & lexicon.FIRST):
                return Finding(s, e, Label.PERSON, 0.7, self.name, "speaker label")
        popular = bool(f & lexicon.FIRST) and 0 < rank <= 150
        if (f == 0 or f & lexicon.FIRST) and tok[1:] != tok[1:].lower() and self._camel(tok):
            return Finding(s, e, Label.PERSON, 0.6, self.name, "user name")
        if (is_word and not popular) or (is_place and not f & (lexicon.FIRST | lexicon.LAST)):
            return None
        if (
            s == 0
            or text[s - 1] in _SENT_END
            or (s >= 2 and text[s - 1] == " " and text[s - 2] in _SENT_END)
        ):
            return None  # sentence-initial
        if popular and not is_place:
            return Finding(s, e, Label.PERSON, 0.6, self.name, "popular first name")
        if self.surnames_alone and f & lexicon.LAST and not is_word and not is_place:
            return Finding(s, e, Label.PERSON, 0.55, self.name, "surname")
        if not ends_with_phrase(text, s, _CUES):
            if self.unknown_words and f == 0 and _ALPHA.match(tok) and len(tok) >= 3:
                return Finding(s, e, Label.PERSON, 0.5, self.name, "unknown capitalised word")
            return None
        if f & (lexicon.FIRST | lexicon.LAST):
            return Finding(s, e, Label.PERSON, 0.65, self.name, "context cue")
        if ends_with_phrase(text, s, _STRONG_CUES):
            return Finding(s, e, Label.PERSON, 0.6, self.name, "context cue, unknown word")
        return None

    def _camel(self, tok: str) -> bool:
        """ "JohnResearcher62", "MartinArt", "AarnavBawa": a first name glued to more."""
        if not any(ch.isupper() for ch in tok[1:]) and not any(ch.isdigit() for ch in tok):
            return False
        for k in range(3, min(len(tok), 12)):
            head, rest = tok[:k], tok[k:]
            if rest[:1].isupper() or rest[:1].isdigit() or rest[:1] == "_":
                f = self._flags(head)
                if f & lexicon.FIRST and not f & lexicon.WORD:
                    return True
        return False

    def _field_values(self, text: str) -> Iterator[Finding]:
        """Lower-case / mixed tokens after "Name:" / "Username:" field labels."""
        if ":" not in text:
            return
        for m in _FIELD_VALUE.finditer(text):
            yield Finding(m.start(1), m.end(1), Label.PERSON, 0.8, self.name, "field label")

    def _lowercase(self, text: str) -> Iterator[Finding]:
        """Lower-case names: "olga krylova" (pairs), "emma" alone (``lowercase=True``)."""
        plain = _plain_first_names()
        if plain.isdisjoint(_LOWER_RUN.findall(text)):
            return  # cheap superset test: no lower-case word is a plain first name
        lex = self._lex
        for m in _LOWER_TOKEN.finditer(text):
            tok = m.group(0)
            if tok not in plain or tok in lexicon.STOP:
                continue
            s, e = m.span()
            nxt = _LOWER_TOKEN.match(text, e + 1) if text[e : e + 1] == " " else None
            if nxt is not None:
                f2 = lex.get(nxt.group(0), (0, 0))[0]
                if f2 & (lexicon.LAST | lexicon.FIRST) and not f2 & (lexicon.WORD | lexicon.PLACE):
                    yield Finding(s, nxt.end(), Label.PERSON, 0.65, self.name, "lower-case name")
                    continue
            if self.lowercase:
                yield Finding(s, e, Label.PERSON, 0.5, self.name, "lower-case first name")

    def _propagate(self, text: str, found: list[Finding]) -> Iterator[Finding]:
        seen: set[str] = set()
        for f in found:
            if f.score < 0.7:
                continue
            for part in text[f.start : f.end].split():
                p = part.strip('.,:;"“”()')
                if p.endswith(_POSSESSIVE):
                    p = p[:-2]
                if not _ALPHA.match(p):
                    continue
                if len(p) >= 3 and p.lower() not in lexicon.STOP and p[:1].isupper():
                    fl = self._flags(p)
                    if fl & lexicon.WORD and not fl & lexicon.LAST:
                        continue
                    seen.add(p)
        n = len(text)
        for p in sorted(seen):
            pos = text.find(p)
            while pos >= 0:
                end = pos + len(p)
                before = text[pos - 1] if pos else " "
                after = text[end] if end < n else " "
                if not (before.isalnum() or before in "@#_") and not (
                    after.isalnum() or after == "_"
                ):
                    yield Finding(pos, end, Label.PERSON, 0.75, self.name, "repeated name")
                pos = text.find(p, end)


_FIELD_VALUE = re.compile(
    r"(?im)(?:^|[|(\[]\s*|\s)(?:name|full name|username|user name|user|author|posted by|handle)"
    r"[ \t]*:[ \t]*([A-Za-z][\w.\-]{1,30}(?:[ \t][A-Z][\w.\-]{1,30})?)"
)
