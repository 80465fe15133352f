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
import sys
from collections.abc import Iterator

from optin.privacy.detect import lexicon
from optin.privacy.detect.base import Recognizer, register
from optin.privacy.findings import Finding, Label

_UP = "".join(
    chr(c)
    for c in list(range(0x41, 0x250)) + list(range(0x386, 0x3AC)) + list(range(0x400, 0x430))
    if chr(c).isupper()
)
_UPC = re.escape(_UP)
_CAP = re.compile(rf"(?<![\w@#&/.\-'’])[{_UPC}][^\W\d_]*(?:['’\-][^\W\d_]+)*\.?")
_LOWER_TOKEN = re.compile(r"(?<![\w@#&/.\-'’])[a-z][a-z]{2,}(?![\w@\-'’])")
_PARTICLES = frozenset(
    "van von de der den da di del della la le du bin binti al el ibn y dos das st".split()
)
_CUE = re.compile(
    r"(?i)(?:thanks to|thank you|thanks|thx|congrats(?: to)?|congratulations(?: to)?|cc|hi|hey|"
    r"hello|dear|welcome|shout ?out to|props to|kudos to|credit to|ask|met|meet|meeting|"
    r"married|wife|husband|son|daughter|mother|father|brother|sister|friend|colleague|boss|"
    r"manager|partner|fiancée?|girlfriend|boyfriend|spouse|by|with|to|and|said|told|"
    r"named|called|dm|ping|contact|love|miss|ft\.?|feat\.?)[ \t]*[,:]?[ \t]*$"
)
_STRONG_CUE = re.compile(
    r"(?i)(?:^|[\s|(\[])(?:name|full name|first name|last name|surname|user|username|author|"
    r"posted by|written by|reviewed by|signed|from|contact person|spouse|mother's name|"
    r"father's name|emergency contact|employee|patient|applicant|client|customer)[ \t]*[:\-–][ \t]*$"
)
_SENT_END = frozenset(".!?\n\r\t\"“”:;|")
_POSSESSIVE = ("'s", "’s")
_FIELD_TOKEN = re.compile(r"[A-Za-z][\w.\-]{1,30}")


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
    ) -> None:
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
        tokens = [(m.start(), m.end()) for m in _CAP.finditer(text)]
        # group into runs separated by a single space (or a name particle)
        runs: list[list[tuple[int, int]]] = []
        prev_end = -10
        for s, e in tokens:
            if e - s > 1 and text[e - 1] == "." and not _is_initial(text[s:e]):
                tok = text[s : e - 1]
                if tok.lower() not in lexicon.TITLES:
                    e -= 1
            if text[e - 2 : e] in _POSSESSIVE:
                e -= 2
            if e <= s:
                continue
            gap = text[prev_end:s]
            joinable = runs and (
                gap == " "
                or (
                    len(gap) < 8
                    and gap[:1] == " "
                    and gap[-1:] == " "
                    and gap.strip() in _PARTICLES
                )
            )
            if joinable and prev_end == runs[-1][-1][1]:
                runs[-1].append((s, e))
            else:
                runs.append([(s, e)])
            prev_end = e
        for run in runs:
            found.extend(self._run(text, run))
        found.extend(self._field_values(text))
        if self.lowercase:
            found.extend(self._lowercase(text))
        if self.propagate and found:
            found.extend(self._propagate(text, found))
        return iter(found)

    def _run(self, text: str, run: list[tuple[int, int]]) -> Iterator[Finding]:
        i = 0
        n = len(run)
        while i < n:
            s, e = run[i]
            tok = text[s:e]
            low = tok.lower().rstrip(".")
            if low in lexicon.TITLES and tok[:1].isupper():
                j = i + 1
                names = []
                while j < n and len(names) < 3:
                    t = text[run[j][0] : run[j][1]]
                    if t.lower() in lexicon.STOP and not _is_initial(t):
                        break
                    names.append(run[j])
                    j += 1
                if names:
                    yield Finding(
                        names[0][0], names[-1][1], Label.PERSON, 0.9, self.name, "title + name"
                    )
                    i = j
                    continue
                i += 1
                continue
            if low in lexicon.STOP or tok.isupper() and len(tok) > 1:
                if tok.isupper() and len(tok) > 2:
                    j = self._allcaps(text, run, i)
                    if j > i:
                        i = j
                        continue
                i += 1
                continue
            j = self._multi(text, run, i)
            if j > i:
                i = j
                continue
            self._single_pending = (s, e)
            f = self._single(text, s, e)
            if f is not None:
                yield f
            i += 1

    def _multi(self, text: str, run: list[tuple[int, int]], i: int) -> int:
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
            self._emit = Finding(run[i][0], run[j - 1][1], Label.PERSON, score, self.name, "name")
            self._buffer.append(self._emit)
            return j
        if (
            f0 == 0
            and last_flags & lexicon.LAST
            and not last_flags & lexicon.WORD
            and all(namey)
            and len(parts) <= 3
        ):
            self._buffer.append(
                Finding(run[i][0], run[j - 1][1], Label.PERSON, 0.7, self.name, "name + surname")
            )
            return j
        return i

    def _allcaps(self, text: str, run: list[tuple[int, int]], i: int) -> int:
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
            self._buffer.append(
                Finding(run[i][0], run[i + 1][1], Label.PERSON, 0.6, self.name, "upper-case name")
            )
            return i + 2
        return i

    def _single(self, text: str, s: int, e: int) -> Finding | None:
        tok = text[s:e]
        if len(tok) < 2 or tok.isupper():
            return None
        f = self._flags(tok)
        cue_before = text[max(0, s - 30) : s]
        cue = bool(_CUE.search(cue_before))
        strong = bool(_STRONG_CUE.search(text[max(0, s - 40) : s]))
        if strong:
            return Finding(s, e, Label.PERSON, 0.8, self.name, "field label")
        is_word = bool(f & lexicon.WORD)
        is_place = bool(f & lexicon.PLACE)
        if f & lexicon.FIRST and not is_word and not is_place:
            return Finding(s, e, Label.PERSON, 0.7, self.name, "first name")
        camel = self._camel(tok)
        if camel:
            return Finding(s, e, Label.PERSON, 0.6, self.name, "user name")
        initial = s == 0 or text[s - 1] in _SENT_END or (
            s >= 2 and text[s - 1] == " " and text[s - 2] in _SENT_END
        )
        if (
            self.surnames_alone
            and f & lexicon.LAST
            and not is_word
            and not is_place
            and not initial
        ):
            return Finding(s, e, Label.PERSON, 0.55, self.name, "surname")
        if cue and not is_word and not is_place and not initial and f & (lexicon.FIRST | lexicon.LAST):
            return Finding(s, e, Label.PERSON, 0.65, self.name, "context cue")
        if cue and f == 0 and not initial:
            return Finding(s, e, Label.PERSON, 0.5, self.name, "context cue, unknown word")
        return None

    def _camel(self, tok: str) -> bool:
        """"JohnResearcher62", "MartinArt", "AarnavBawa": a first name glued to more."""
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
        for m in _LOWER_TOKEN.finditer(text):
            entry = self._lex.get(m.group(0))
            if entry is None:
                continue
            f, rank = entry
            if f & lexicon.FIRST and not f & (lexicon.WORD | lexicon.PLACE) and m.group(0) not in lexicon.STOP:
                yield Finding(m.start(), m.end(), Label.PERSON, 0.5, self.name, "lower-case name")

    def _propagate(self, text: str, found: list[Finding]) -> Iterator[Finding]:
        seen: set[str] = set()
        for f in found:
            if f.score < 0.7:
                continue
            for part in text[f.start : f.end].split():
                p = part.strip(".,")
                if len(p) >= 3 and p.lower() not in lexicon.STOP and p[:1].isupper():
                    fl = self._flags(p)
                    if fl & lexicon.WORD and not fl & lexicon.LAST:
                        continue
                    seen.add(p)
        if not seen:
            return
        pat = re.compile(
            r"(?<![\w@#])(?:" + "|".join(re.escape(p) for p in sorted(seen, key=len, reverse=True)) + r")(?!\w)"
        )
        for m in pat.finditer(text):
            yield Finding(m.start(), m.end(), Label.PERSON, 0.75, self.name, "repeated name")


_FIELD_VALUE = re.compile(
    r"(?im)(?:^|[|(\[]\s*|\s)(?:name|full name|username|user name|user|author|posted by|handle)"
    r"[ \t]*:[ \t]*([A-Za-z][\w.\-]{1,30}(?:[ \t][A-Z][\w.\-]{1,30})?)"
)

if "pytest" in sys.modules:  # pragma: no cover - keeps mypy calm about dynamic attrs
    pass
