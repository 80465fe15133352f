"""The person recognizer: groups capitalised words into runs and asks the rule tables.

``find`` runs, in order: capitalised runs (:meth:`PersonRecognizer._runs`, judged by
:mod:`.rules`), the cue finders of :mod:`.cues` (field values, lower-case names,
introduced names), the :mod:`.filters` (addresses, products, fields), then
enumerations and later mentions of the names found.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from optin.privacy.detect import lexicon
from optin.privacy.detect.base import Recognizer, register
from optin.privacy.detect.recognizers.person import cues, slots
from optin.privacy.detect.recognizers.person.filters import in_address, product_or_field
from optin.privacy.detect.recognizers.person.rules import multi, single, single_rules
from optin.privacy.detect.recognizers.person.tokens import (
    COMMON,
    INERT,
    OTHER,
    WORDS,
    cached_kind,
    flags,
    is_initial,
    place_heads,
    word_info,
    word_only,
)
from optin.privacy.detect.recognizers.person.words import FIRST_NAME_STOPS, PARTICLES
from optin.privacy.detect.scan import cap_spans, cap_words, lower
from optin.privacy.findings import Finding, Label

_INITIALS = re.compile(r"(?:[A-Z]\.)+(?=[ \t])")
_HAS_DIGIT = re.compile(r"\d")
_DIGIT_AFTER = re.compile(r"[ \t,]*\d")


def _joins(text: str, prev_end: int, s: int) -> bool:
    """Whether a capitalised word at ``s`` continues the run ending at ``prev_end``: one
    or two spaces, or one or two particles between spaces ("Ludwig van Beethoven",
    "Pieter van der Berg", "María de los Ángeles")."""
    gap = s - prev_end
    if gap >= _MAX_GAP:
        return False
    if gap == 1:
        return text[prev_end] == " "
    if gap == 2:
        return text[prev_end:s] == "  "
    return gap > 2 and text[prev_end] == " " and text[s - 1] == " " and _particles(text[prev_end:s])


_MAX_GAP = 12  # " van der ", " de los "
# honorifics written right before a name: masked with it, so "Dr. [PERSON]" does not
# leave the title beside the tag
_HONORIFIC = re.compile(
    r"(?<![\w.])(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Professor|Sir|Dame|Rev|Herr|Frau|Sr|Sra|Srta|"
    r"Mme|Mlle|Dott|Dra|Drs|Ir)\.?[ \t]+\Z"
)

_HONORIFIC_INITIAL = re.compile("[MDPSRHFI]")


def _with_titles(text: str, found: list[Finding]) -> list[Finding]:
    """Findings whose span is extended back over an honorific right before them."""
    out = []
    for f in found:
        lo = max(0, f.start - 12)
        # every honorific starts with one of these capitals (most windows hold none)
        if _HONORIFIC_INITIAL.search(text, lo, f.start) is None:
            out.append(f)
            continue
        m = _HONORIFIC.search(text, lo, f.start)
        if m is not None and f.label is Label.PERSON:
            f = Finding(
                m.start(), f.end, f.label, f.score, f.recognizer, f.explanation + " + title"
            )
        out.append(f)
    return out


def _initials(text: str, run: list[tuple[int, int]], i: int) -> bool:
    """Two initials in a row start the run at ``i`` ("J. R. Smith")."""
    return (
        i + 1 < len(run)
        and is_initial(text[run[i][0] : run[i][1]])
        and is_initial(text[run[i + 1][0] : run[i + 1][1]])
    )


def _common_surname(tok: str) -> bool:
    """A top-1000 surname that is also a word but no place ("Smith", "Turner")."""
    f, rank = lexicon.names().get(tok.lower(), (0, 0))
    return bool(f & lexicon.LAST) and not f & lexicon.PLACE and 0 < rank <= 1000


def _particles(gap: str) -> bool:
    words = gap.split()
    return 0 < len(words) <= 2 and all(w in PARTICLES for w in words)


def _has_list(text: str, found: list[Finding]) -> bool:
    """Whether the text may hold an enumeration or a pair of names worth extending."""
    if found and ("," in text or " and " in text or " & " in text):
        return True
    return " and " in text and (" were " in text or " are " in text or " had " in text)


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
        self._rules = single_rules(
            {"surnames_alone": surnames_alone, "unknown_words": unknown_words}
        )

    def find(self, text: str) -> Iterator[Finding]:
        found = self._candidates(text)
        if found and _HAS_DIGIT.search(text):
            found = [f for f in found if not in_address(text, f)]
        if found:
            found = [f for f in found if not product_or_field(text, f)]
        if _has_list(text, found):
            found.extend(cues.lists(text, found, self.name))
        if self.propagate and found:
            found.extend(cues.propagate(text, found, self.name))
        if found:
            found = _with_titles(text, found)
        return iter(found)

    def _candidates(self, text: str) -> list[Finding]:
        """Capitalised runs, field values, lower-case and introduced names."""
        found: list[Finding] = []
        spans = cap_spans(text)
        if spans:
            self._runs(text, spans, cap_words(text), found)
        found.extend(slots.name_slots(text, self.name))
        found.extend(slots.cjk_names(text, self.name))
        if ":" in text:
            found.extend(cues.field_values(text, self.name))
        if self.lowercase_pairs or self.lowercase:
            found.extend(cues.lowercase(text, self.name, self.lowercase))
        low = lower(text)
        if "name" in low or "call" in low or "known as" in low:
            found.extend(cues.introduced(text, low, self.name))
        return found

    # -- runs of capitalised words --------------------------------------------------------

    def _runs(
        self, text: str, spans: list[tuple[int, int]], words: list[str], found: list[Finding]
    ) -> None:
        """Group capitalised words into runs (joined by one space or a particle), try each.

        Per distinct word a cache holds how much to trim ("Smith." -> 1, "Smith's" -> 2)
        and its kind, so a word met alone costs a couple of lookups.
        """
        cache = WORDS
        run: list[tuple[int, int]] = []
        run_kind = OTHER
        run_head = False
        prev_end = -100  # further back than any gap that joins
        for (s, e), w in zip(spans, words, strict=False):  # same length by construction
            c = cache.get(w)
            if c is None:
                c = word_info(w)
            if c[0]:
                e -= c[0]
            elif e - s == 2 and w[1] == ".":
                m = _INITIALS.match(text, e)
                if m is not None:
                    e = m.end()  # dotted initials "C.A."
            if s - prev_end < _MAX_GAP and _joins(text, prev_end, s):
                run.append((s, e))
                run_head = run_head or c[2]
                prev_end = e
                continue
            if len(run) > 1:
                self._flush(text, run, run_kind, run_head, found)
            elif run_kind != INERT and run:
                self._alone(text, run[0], run_kind, found)  # most runs: one word
            run = [(s, e)]
            run_kind = c[1]
            run_head = c[2]
            prev_end = e
        self._flush(text, run, run_kind, run_head, found)

    def _flush(
        self,
        text: str,
        run: list[tuple[int, int]],
        run_kind: int,
        run_head: bool,
        found: list[Finding],
    ) -> None:
        """Judge one finished run: a lone word by its kind, a longer run word by word."""
        if len(run) > 1:
            if run_head:
                self._run(text, run, found)
            else:
                self._run_part(text, run, found)
        elif run and run_kind != INERT:
            self._alone(text, run[0], run_kind, found)

    def _alone(self, text: str, span: tuple[int, int], kind: int, found: list[Finding]) -> None:
        """One capitalised word on its own (most of them), of a known kind."""
        s, e = span
        if kind == INERT:
            return
        if (
            kind == COMMON
            and text[e : e + 1] != ":"
            and not text[max(0, s - 3) : s].rstrip(" \t").endswith((":", "-", "–"))
        ):
            return  # a common word is a name only after "Name:" or before ":" (rules)
        f = single(self._rules, text, s, e, self._lex, self.name)
        if f is not None:
            found.append(f)

    def _run(self, text: str, run: list[tuple[int, int]], out: list[Finding]) -> None:
        """A run that holds the first word of a multi-word place: split around the place
        ("Sierra Leone", "Los Angeles" are never part of a name)."""
        places = lexicon.multiword_places()
        heads = place_heads()
        n = len(run)
        for i in range(n - 1):
            if text[run[i][0] : run[i][1]].lower() not in heads:
                continue
            for k in (2, 3):
                if i + k <= n:
                    phrase = " ".join(text[run[i][0] : run[i + k - 1][1]].lower().split())
                    if phrase in places:
                        self._run_part(text, run[:i], out)
                        self._run(text, run[i + k :], out)
                        return
        self._run_part(text, run, out)

    def _run_part(self, text: str, run: list[tuple[int, int]], out: list[Finding]) -> None:
        """Walk a run: titles, stop words, headings, multi-word names, lone words."""
        if len(run) == 1:
            self._alone(text, run[0], cached_kind(text[run[0][0] : run[0][1]]), out)
            return
        i = 0
        n = len(run)
        while i < n:
            j = self._step(text, run, i, out)
            if j > i:
                i = j
                continue
            s, e = run[i]
            self._alone(text, (s, e), cached_kind(text[s:e]), out)
            i += 1

    def _step(self, text: str, run: list[tuple[int, int]], i: int, out: list[Finding]) -> int:
        """What starts at run[i]: the index after what was consumed, or ``i`` when the
        word is to be judged alone. A skipped word (a title without a name, a stop word,
        a heading) counts as consumed."""
        s, e = run[i]
        tok = text[s:e]
        low = tok.lower().rstrip(".")
        if low in lexicon.TITLES and tok[:1].isupper():
            return max(self._title(text, run, i, out), i + 1)
        if low in lexicon.STOP and i + 1 < len(run) and not tok.isupper():
            j = self._stop_first_name(text, run, i, out)
            if j > i:
                return j
        if low in lexicon.STOP or (tok.isupper() and len(tok) > 1 and not _initials(text, run, i)):
            j = self._allcaps(text, run, i, out) if tok.isupper() and len(tok) > 2 else i
            return max(j, i + 1)
        return multi(text, run, i, self.name, out)

    def _title(self, text: str, run: list[tuple[int, int]], i: int, out: list[Finding]) -> int:
        """ "Dr. Jane Roe", "Mr Murray": up to three words after a title (0.9)."""
        n = len(run)
        j = i + 1
        names: list[tuple[int, int]] = []
        while j < n and len(names) < 3:
            t = text[run[j][0] : run[j][1]]
            if t.lower() in lexicon.STOP and not is_initial(t):
                break
            names.append(run[j])
            j += 1
        if names and not all(word_only(text[a:b]) for a, b in names):
            out.append(
                Finding(names[0][0], names[-1][1], Label.PERSON, 0.9, self.name, "title + name")
            )
            return j
        return i

    def _stop_first_name(
        self, text: str, run: list[tuple[int, int]], i: int, out: list[Finding]
    ) -> int:
        """ "Jan Jílek", "May Ling Chen": a first name that is also a month or a word."""
        t0 = text[run[i][0] : run[i][1]]
        if t0.lower() not in FIRST_NAME_STOPS:
            return i
        f0 = flags(t0)
        s1, e1 = run[i + 1]
        f1 = flags(text[s1:e1])
        particle = e1 - s1 < 40 and _particles(text[run[i][1] : s1])  # "Jan de Vries"
        if (
            not text[s1:e1].isupper()
            and f0 & lexicon.FIRST
            and (f1 == 0 or f1 & lexicon.LAST)
            and (
                particle or not f1 & (lexicon.WORD | lexicon.PLACE) or _common_surname(text[s1:e1])
            )
            and text[s1:e1].lower() not in lexicon.STOP
            and not _DIGIT_AFTER.match(text, e1)
        ):
            # with a particle the name outranks a repeated "Vries" that would cut it
            score = 0.8 if particle else 0.7
            out.append(Finding(run[i][0], e1, Label.PERSON, score, self.name, "name"))
            return i + 2
        return i

    def _allcaps(self, text: str, run: list[tuple[int, int]], i: int, out: list[Finding]) -> int:
        """ "JANE DOE" in a heading: only a known first name + a known surname (0.6)."""
        if i + 1 >= len(run):
            return i
        a = text[run[i][0] : run[i][1]]
        b = text[run[i + 1][0] : run[i + 1][1]]
        fa, fb = flags(a), flags(b)
        if (
            fa & lexicon.FIRST
            and fb & lexicon.LAST
            and not fa & lexicon.PLACE
            and (not fa & lexicon.WORD or 0 < lexicon.names().get(a.lower(), (0, 0))[1] <= 500)
            and (not fb & (lexicon.WORD | lexicon.PLACE) or _common_surname(b))
        ):
            out.append(
                Finding(run[i][0], run[i + 1][1], Label.PERSON, 0.6, self.name, "upper-case name")
            )
            return i + 2
        return i
