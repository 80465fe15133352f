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
after ``@``/``#``, all-caps headings (unless the lexicon says first name + surname), a
word that is not a known name before a job-role noun ("DevOps Engineer"), CamelCase
product or tech words that are not known names ("GitHub", "JavaScript", "MacBook").
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache

from optin.privacy.detect import lexicon
from optin.privacy.detect.base import Recognizer, register
from optin.privacy.detect.context import ends_with_phrase, phrase_suffixes
from optin.privacy.detect.scan import cap_spans, cap_words, lower, windows_around
from optin.privacy.findings import Finding, Label

_LOWER_TOKEN = re.compile(r"[a-z](?<![\w@#&/.\-'’].)[a-z]{2,}(?![\w@\-'’])")
_INITIALS = re.compile(r"(?:[A-Z]\.)+(?=[ \t])")
_LOWER_NEXT = re.compile(r"[a-z]{3,}(?=['’]s\b|(?![\w@\-'’]))")
_LOWER_BEFORE = re.compile(r"[\w@#&/.\-'’]").match
_LOWER_AFTER = re.compile(r"[\w@\-'’]").match
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
        "ten",
        "ter",
        "dei",
        "degli",
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
    directed by|written by|starring|feat""".replace("\n", "")
    .replace("    ", "")
    .split("|")
)
_WEAK_CUES = frozenset({"by", "with", "to", "and", "from", "love", "miss", "contact", "ask"})
_STRONG_CUES = _CUES - _WEAK_CUES
_NOT_NAME_FLAGS = lexicon.WORD | lexicon.PLACE
_NAME_BITS = lexicon.FIRST | lexicon.LAST
_CONTRACTIONS = frozenset(
    [
        "i'm",
        "i've",
        "i'll",
        "i'd",
        "don't",
        "can't",
        "won't",
        "isn't",
        "aren't",
        "wasn't",
        "weren't",
        "didn't",
        "doesn't",
        "haven't",
        "hasn't",
        "hadn't",
        "couldn't",
        "wouldn't",
        "shouldn't",
        "it's",
        "that's",
        "there's",
        "here's",
        "what's",
        "who's",
        "let's",
        "he's",
        "she's",
        "we're",
        "they're",
        "you're",
        "you've",
        "we've",
        "they've",
        "you'll",
        "we'll",
        "they'll",
        "he'll",
        "she'll",
        "it'll",
        "i'd",
        "you'd",
        "he'd",
        "she'd",
        "we'd",
        "they'd",
        "ain't",
        "y'all",
    ]
)
_HAS_DIGIT = re.compile(r"\d")
_VERB_AFTER = re.compile(
    r"[ \t]+(?:began|begins|lives|lived|shouted|went|loves|loved|wants|wanted|thinks|thought|"
    r"smiled|cried|laughed|is very|was born|has been married|married)\b"
)
_PAIR_VERB = re.compile(
    r"([A-Z](?<![\w'’\-].)[^\W\d_]+)[ \t]+(?:and|&)[ \t]+([A-Z][^\W\d_]+)[ \t]+"
    r"(?:were|are|have|had)\b"
)
_FIRST_NAME_STOPS = frozenset(["jan", "may", "june", "april", "august", "will", "lord"])
_DIGIT_AFTER = re.compile(r"[ \t,]*\d")
_SURNAME_STOPS = frozenset(
    ["king", "prince", "bishop", "judge", "general", "major", "queen", "pope", "lord",
     "young", "little", "good", "best", "north", "south", "west", "east", "park", "church",
     "bank", "may", "mar", "june"]
)  # fmt: skip
_SPEECH_AFTER = re.compile(
    r"[ \t]+(?:said|says|explained|explains|told|asked|wrote|writes|added|replied|tweeted|"
    r"posted|announced|argued|claimed|noted|recalled)\b"
)
_PLACE_CUE = re.compile(r"(?i)(?:\bin|\bfrom|\bnear|\bat|\bto|\bvisit(?:ing|ed)?|,)[ \t]*$")
# capitalised words that are never a name on their own: field labels of forms and ads
# ("Price: 800"), and places the name lists get wrong
_NOT_NAMES = frozenset(
    """price|location|item|description|contact|seller|buyer|name|email|e-mail|phone|mobile|
    timestamp|category|condition|address|title|subject|date|time|status|note|notes|source|
    tags|rating|size|color|colour|model|brand|type|quantity|total|payment|shipping|delivery|
    summary|question|answer|reply|comment|message|website|link|company|role|position|salary|
    age|gender|language|city|country|zip|postcode|website|username|user|password|id|
    britain|america|europe|africa|asia|oceania|antarctica|scandinavia""".replace("\n", "")
    .replace(" ", "")
    .split("|")
)
_FIELD_CUES = frozenset(
    """name|full name|first name|last name|surname|user|username|author|posted by|written by|
    reviewed by|signed|from|contact person|spouse|mother's name|father's name|
    emergency contact|employee|patient|applicant|client|customer""".replace("\n", "")
    .replace("    ", "")
    .split("|")
)
_ALPHA = re.compile(r"^[^\W\d_]+(?:-[^\W\d_]+)*$")
_SENT_END = frozenset('.!?\n\r\t"“”:;|')
_POSSESSIVE = ("'s", "’s")
_FIELD_TOKEN = re.compile(r"[A-Za-z][\w.\-]{1,30}")
# a job-role noun right after a word ("DevOps Engineer", "Salesforce Developer"): the
# word names a field or a product, not a person, unless it is a known first name
_ROLE_AFTER = re.compile(
    r"[ \t]+(?:Engineers?|Developers?|Managers?|Designers?|Analysts?|Scientists?|"
    r"Architects?|Leads?|Directors?|Consultants?|Interns?|Administrators?|Admins?|"
    r"Specialists?|Officers?|Technicians?|Programmers?|Testers?|Recruiters?|Coordinators?)\b"
)
# the last part of a CamelCase product or tech word ("DevOps", "GitHub", "JavaScript",
# "YouTube", "PayPal"): such words are not user names
_TECH_TAILS = frozenset(
    """ops|hub|lab|script|phone|pad|pod|tube|in|book|press|point|soft|net|base|flow|
    cloud|shop|pal|box|drive|code|sec|kit|app|apps|bot|tech|sql|db|mail|chat|fi|bank|
    pay|cast|desk|force|works|ware|link|dash|gram|stack|mart|hat|ql|js|os|api|ai|ml|
    fox|tab|cad|star|feed|lens|cam|tok|fest|con|gate|ware|bucks|bnb|ex|ly|er""".replace("\n", "")
    .replace(" ", "")
    .split("|")
)
_CAMEL_PART = re.compile(r"[A-Z][a-z]*|[a-z]+|\d+")


# per capitalised word: _INERT (never a name alone), _COMMON (a common English word: a
# name only after a field label) or _OTHER; shared by all instances (same lexicon)
_INERT, _COMMON, _OTHER = 0, 1, 2
_KINDS: dict[str, int] = {}
# per raw capitalised word: (characters to trim, kind of the trimmed word, place head)
_WORDS: dict[str, tuple[int, int, bool]] = {}
# per token (as written): its lexicon flags
_FLAGS: dict[str, int] = {}


@lru_cache(maxsize=1)
def _plain_first_names() -> frozenset[str]:
    """First names that are neither common words nor places (safe in lower case)."""
    bad = lexicon.WORD | lexicon.PLACE
    return frozenset(
        tok for tok, (f, _) in lexicon.names().items() if f & lexicon.FIRST and not f & bad
    )


@lru_cache(maxsize=1)
def _place_heads() -> frozenset[str]:
    """First words of the multi-word place names."""
    return frozenset(p.split()[0] for p in lexicon.multiword_places())


def _is_initial(tok: str) -> bool:
    """ "J.", "J" or dotted initials "C.A."."""
    n = len(tok)
    if n == 1:
        return tok.isupper()
    return n % 2 == 0 and all(tok[i].isupper() and tok[i + 1] == "." for i in range(0, n, 2))


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
    def _kind(self, tok: str) -> int:
        """What a capitalised word alone can be, whatever its context (cached per word).

        _INERT: never a name alone. _COMMON: a common word or a place that is not a name;
        it can be a name only as a field value ("Name: Rose") or a speaker label.
        """
        low = tok.lower()
        if (
            len(tok) < 2
            or tok.isupper()
            or low in lexicon.STOP
            or low.rstrip(".") in lexicon.TITLES
            or low in _NOT_NAMES
            or low.replace("’", "'") in _CONTRACTIONS
        ):
            kind = _INERT
        else:
            f, rank = self._lex.get(low, (0, 0))
            popular = bool(f & lexicon.FIRST) and 0 < rank <= 150
            common = (f & lexicon.WORD and not popular) or (
                f & lexicon.PLACE and not f & (lexicon.FIRST | lexicon.LAST)
            )
            kind = _COMMON if common and tok[1:] == tok[1:].lower() else _OTHER
        if len(_KINDS) < 200_000:
            _KINDS[tok] = kind
        return kind

    def _word_only(self, tok: str) -> bool:
        """A common English word that is neither a first name nor a surname ("Location")."""
        f = self._flags(tok)
        return bool(f & lexicon.WORD) and not f & (lexicon.FIRST | lexicon.LAST)

    def _flags(self, tok: str) -> int:
        f = _FLAGS.get(tok)
        if f is None:
            entry = self._lex.get(tok.lower())
            f = entry[0] if entry else 0
            if len(_FLAGS) < 200_000:
                _FLAGS[tok] = f
        return f

    def find(self, text: str) -> Iterator[Finding]:
        found: list[Finding] = []
        spans = cap_spans(text)
        if spans:
            self._runs(text, spans, cap_words(text), found)
        if ":" in text:
            found.extend(self._field_values(text))
        if self.lowercase_pairs or self.lowercase:
            found.extend(self._lowercase(text))
        low = lower(text)
        if "name" in low or "call" in low or "known as" in low:
            found.extend(self._introduced(text, low))
        if found and _HAS_DIGIT.search(text):
            found = [f for f in found if not _in_address(text, f)]
        if found:
            found = [f for f in found if not self._product_or_field(text, f)]
        if (found and ("," in text or " and " in text or " & " in text)) or (
            " and " in text and (" were " in text or " are " in text or " had " in text)
        ):
            found.extend(self._lists(text, found))
        if self.propagate and found:
            found.extend(self._propagate(text, found))
        return iter(found)

    def _runs(
        self, text: str, spans: list[tuple[int, int]], words: list[str], found: list[Finding]
    ) -> None:
        """Group capitalised words into runs (joined by one space or a particle), try each.

        Per distinct word a cache holds how much to trim ("Smith." -> 1, "Smith's" -> 2)
        and its :meth:`_kind`, so a word met alone costs a couple of lookups.
        """
        cache = _WORDS
        run: list[tuple[int, int]] = []
        run_kind = _OTHER
        run_head = False
        prev_end = -10
        for (s, e), w in zip(spans, words, strict=False):  # same length by construction
            c = cache.get(w)
            if c is None:
                c = self._word_info(w)
            if c[0]:
                e -= c[0]
            elif e - s == 2 and w[1] == ".":
                m = _INITIALS.match(text, e)
                if m is not None:
                    e = m.end()  # dotted initials "C.A."
            gap = s - prev_end
            if gap < 8 and (
                (gap == 1 and text[prev_end] == " ")
                or (gap == 2 and text[prev_end:s] == "  ")
                or (
                    gap > 2
                    and text[prev_end] == " "
                    and text[s - 1] == " "
                    and text[prev_end:s].strip() in _PARTICLES
                )
            ):
                run.append((s, e))
                run_head = run_head or c[2]
                prev_end = e
                continue
            if len(run) > 1:
                if run_head:
                    self._run(text, run, found)
                else:
                    self._run_part(text, run, found)
            elif run and run_kind != _INERT:
                self._alone(text, run[0], run_kind, found)
            run = [(s, e)]
            run_kind = c[1]
            run_head = c[2]
            prev_end = e
        if len(run) > 1:
            if run_head:
                self._run(text, run, found)
            else:
                self._run_part(text, run, found)
        elif run and run_kind != _INERT:
            self._alone(text, run[0], run_kind, found)

    def _word_info(self, w: str) -> tuple[int, int, bool]:
        """(characters to trim, kind of the trimmed word, first word of a multi-word
        place) of a capitalised word."""
        n = len(w)
        trim = 0
        if w[-1] == "." and n > 2 and w[:-1].lower() not in lexicon.TITLES:
            trim = 1
        if n - trim > 2 and w[n - trim - 1] == "s" and w[n - trim - 2] in "'’":
            trim += 2
        tok = w[: n - trim]
        kind = _KINDS.get(tok)
        if kind is None:
            kind = self._kind(tok)
        info = (trim, kind, tok.lower() in _place_heads())
        if len(_WORDS) < 200_000:
            _WORDS[w] = info
        return info

    def _alone(self, text: str, span: tuple[int, int], kind: int, found: list[Finding]) -> None:
        """One capitalised word on its own (most of them), of a known :meth:`_kind`."""
        s, e = span
        if kind == _INERT:
            return
        if (
            kind == _COMMON
            and text[e : e + 1] != ":"
            and not text[max(0, s - 3) : s].rstrip(" \t").endswith((":", "-", "–"))
        ):
            return  # a common word is a name only after "Name:" or before ":" (_single)
        f = self._single(text, s, e)
        if f is not None:
            found.append(f)

    def _run(self, text: str, run: list[tuple[int, int]], out: list[Finding]) -> None:
        places = lexicon.multiword_places()
        heads = _place_heads()
        n = len(run)
        for i in range(n - 1):
            if text[run[i][0] : run[i][1]].lower() not in heads:
                continue
            for k in (2, 3):
                if i + k <= n:
                    phrase = " ".join(text[run[i][0] : run[i + k - 1][1]].lower().split())
                    if phrase in places:
                        # "Sierra Leone", "Los Angeles": a place, never part of a name
                        self._run_part(text, run[:i], out)
                        self._run(text, run[i + k :], out)
                        return
        self._run_part(text, run, out)

    def _run_part(self, text: str, run: list[tuple[int, int]], out: list[Finding]) -> None:
        if len(run) == 1:
            s0, e0 = run[0]
            tok = text[s0:e0]
            kind = _KINDS.get(tok)
            self._alone(text, run[0], self._kind(tok) if kind is None else kind, out)
            return
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
                if names and not all(self._word_only(text[a:b]) for a, b in names):
                    out.append(
                        Finding(
                            names[0][0], names[-1][1], Label.PERSON, 0.9, self.name, "title + name"
                        )
                    )
                    i = j
                    continue
                i += 1
                continue
            if low in lexicon.STOP and i + 1 < n and not tok.isupper():
                j = self._stop_first_name(text, run, i, out)
                if j > i:
                    i = j
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
            kind = _KINDS.get(tok)
            self._alone(text, (s, e), self._kind(tok) if kind is None else kind, out)
            i += 1

    def _multi(self, text: str, run: list[tuple[int, int]], i: int, out: list[Finding]) -> int:
        """Try a multi-word name starting at run[i]; emit it and return the next index."""
        n = len(run)
        s0, e0 = run[i]
        t0 = text[s0:e0]
        f0 = self._flags(t0)
        first_ok = bool(f0 & lexicon.FIRST) or _is_initial(t0)
        if not first_ok and f0:
            # only "Xxx J. Yyy" (a non-word, an initial, a non-word) can still match
            if f0 & lexicon.WORD or i + 2 >= n:
                return i
            s1, e1 = run[i + 1]
            if not _is_initial(text[s1:e1]):
                return i
        j = i + 1
        parts = [t0]
        while j < n and j - i < 4:
            t = text[run[j][0] : run[j][1]]
            if t.lower() in lexicon.STOP and not _is_initial(t):
                if (
                    j == i + 1
                    and f0 & lexicon.FIRST
                    and not f0 & lexicon.WORD
                    and t.lower() in _SURNAME_STOPS
                ):
                    parts.append(t)  # "Ivan King", "Diana Prince"
                    j += 1
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
        initial_before_last = (
            len(parts) == 3
            and _is_initial(parts[1])
            and f0 & lexicon.FIRST
            and not f0 & lexicon.WORD
        )
        while (
            len(parts) > 1
            and not initial_before_last
            and (
                (flags[-1] & lexicon.WORD and not flags[-1] & (lexicon.FIRST | lexicon.LAST))
                or (flags[-1] & lexicon.PLACE and not flags[-1] & (lexicon.FIRST | lexicon.LAST))
            )
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
        known_tail = any(f & (lexicon.LAST | lexicon.FIRST) for f in tail)
        if (
            first_ok
            and all(namey[1:])
            and not all_words
            and not _is_initial(parts[-1])
            and (known_tail or not f0 & lexicon.WORD)
        ):
            out.append(Finding(run[i][0], run[j - 1][1], Label.PERSON, 0.85, self.name, "name"))
            return j
        if (
            len(parts) == 3
            and _is_initial(parts[1])
            and (not flags[0] & lexicon.WORD or flags[0] & lexicon.FIRST)
            and (
                not flags[2] & lexicon.WORD
                or (flags[0] & lexicon.FIRST and not flags[0] & lexicon.WORD)
            )
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
        if (
            len(parts) <= 3
            and any(f == 0 for f in flags)
            and all(
                f == 0 or (f & (lexicon.FIRST | lexicon.LAST) and not f & _NOT_NAME_FLAGS)
                for f in flags
            )
            and not _is_initial(parts[-1])
            and all(_ALPHA.match(p) for p in parts)
        ):
            # "Olubukunola Obasa", "Vidica Zakoč": foreign names the lists do not hold
            out.append(
                Finding(run[i][0], run[j - 1][1], Label.PERSON, 0.6, self.name, "unknown names")
            )
            return j
        return i

    def _stop_first_name(
        self, text: str, run: list[tuple[int, int]], i: int, out: list[Finding]
    ) -> int:
        """ "Jan Jílek", "May Ling Chen": a first name that is also a month or a word."""
        t0 = text[run[i][0] : run[i][1]]
        if t0.lower() not in _FIRST_NAME_STOPS:
            return i
        f0 = self._flags(t0)
        s1, e1 = run[i + 1]
        f1 = self._flags(text[s1:e1])
        if (
            not text[s1:e1].isupper()
            and f0 & lexicon.FIRST
            and (f1 == 0 or f1 & lexicon.LAST)
            and not f1 & (lexicon.WORD | lexicon.PLACE)
            and text[s1:e1].lower() not in lexicon.STOP
            and not _DIGIT_AFTER.match(text, e1)
        ):
            out.append(Finding(run[i][0], e1, Label.PERSON, 0.7, self.name, "name"))
            return i + 2
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
        if (
            f & lexicon.FIRST
            and is_place
            and not is_word
            and 0 < rank <= 1000
            and not _PLACE_CUE.search(text, max(0, s - 12), s)
        ):
            return Finding(s, e, Label.PERSON, 0.6, self.name, "first name (also a place)")
        if (
            text[e : e + 1] == ":"
            and tok.lower() not in _NOT_NAMES
            and (
                s == 0
                or text[s - 1] in '\n"“>'
                or text[max(0, s - 2) : s] in (". ", "? ", "! ", '" ')
            )
            and not (is_word and not f & lexicon.FIRST)
        ):
            return Finding(s, e, Label.PERSON, 0.7, self.name, "speaker label")
        popular = bool(f & lexicon.FIRST) and 0 < rank <= 150
        if (f == 0 or f & lexicon.FIRST) and tok[1:] != tok[1:].lower() and self._camel(tok):
            return Finding(s, e, Label.PERSON, 0.6, self.name, "user name")
        if (is_word and not popular) or (is_place and not f & (lexicon.FIRST | lexicon.LAST)):
            return None
        after = text[e : e + 1]
        if after == " " and _SPEECH_AFTER.match(text, e) and (f == 0 or f & _NAME_BITS):
            return Finding(s, e, Label.PERSON, 0.65, self.name, "speaker of said/says")
        if f == 0 and after == " " and _VERB_AFTER.match(text, e) and _ALPHA.match(tok):
            # "Vsevolod is very reliable", "Järvilehto began writing": an unknown word
            # as the subject of a verb, even at the start of a sentence
            return Finding(s, e, Label.PERSON, 0.6, self.name, "unknown word + verb")
        if text[max(0, s - 2) : s] == ", " and after in ("!", "?") and (f == 0 or f & _NAME_BITS):
            return Finding(s, e, Label.PERSON, 0.65, self.name, "vocative")
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
        cues = phrase_suffixes(text, s)
        if _CUES.isdisjoint(cues):
            if self.unknown_words and f == 0 and _ALPHA.match(tok) and len(tok) >= 3:
                return Finding(s, e, Label.PERSON, 0.5, self.name, "unknown capitalised word")
            return None
        if f & (lexicon.FIRST | lexicon.LAST):
            return Finding(s, e, Label.PERSON, 0.65, self.name, "context cue")
        if not _STRONG_CUES.isdisjoint(cues):
            return Finding(s, e, Label.PERSON, 0.6, self.name, "context cue, unknown word")
        return None

    def _product_or_field(self, text: str, f: Finding) -> bool:
        """A one-word finding that is a field or product, not a person: a word that is
        not a known name before a job-role noun ("DevOps Engineer"), or a
        CamelCase word that is not a known name and ends in a tech part ("GitHub")."""
        tok = text[f.start : f.end]
        if not tok[:1].isalpha() or " " in tok:
            return False
        flags = self._flags(tok)
        if flags & _NAME_BITS:
            return False
        if _ROLE_AFTER.match(text, f.end):
            return True
        if not any(ch.isupper() for ch in tok[1:]):
            return False
        parts = _CAMEL_PART.findall(tok)
        return len(parts) >= 2 and parts[-1].lower() in _TECH_TAILS

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
        low = lower(text)
        if not any(k in low for k in _FIELD_KEYS):
            return
        colons: list[int] = []
        p = text.find(":")
        while p >= 0:
            if any(k in low[max(0, p - 12) : p] for k in _FIELD_KEYS):
                colons.append(p)
            p = text.find(":", p + 1)
        wins = windows_around(text, colons, 14, 66)
        for m in (m for lo, hi in wins for m in _FIELD_VALUE.finditer(text, lo, hi)):
            yield Finding(m.start(1), m.end(1), Label.PERSON, 0.8, self.name, "field label")

    def _lowercase(self, text: str) -> Iterator[Finding]:
        """Lower-case names: "olga krylova" (pairs), "emma" alone (``lowercase=True``)."""
        plain = _plain_first_names()
        # words split at spaces, commas and full stops (a name glued to other punctuation,
        # "(emma", is missed here)
        names = plain.intersection(text.replace(",", " ").replace(".", " ").split())
        if not names:
            return
        names -= lexicon.STOP
        lex = self._lex
        # find just those names, with the word boundaries of _LOWER_TOKEN
        spans: list[tuple[int, int]] = []
        n = len(text)
        for name in names:
            s = text.find(name)
            while s >= 0:
                e = s + len(name)
                if (s == 0 or not _LOWER_BEFORE(text[s - 1])) and (
                    e == n or not _LOWER_AFTER(text[e])
                ):
                    spans.append((s, e))
                s = text.find(name, e)
        spans.sort()
        for s, e in spans:
            nxt = _LOWER_NEXT.match(text, e + 1) if text[e : e + 1] == " " else None
            if nxt is not None:
                f2 = lex.get(nxt.group(0), (0, 0))[0]
                if f2 & (lexicon.LAST | lexicon.FIRST) and not f2 & (lexicon.WORD | lexicon.PLACE):
                    yield Finding(s, nxt.end(), Label.PERSON, 0.65, self.name, "lower-case name")
                    continue
            if self.lowercase:
                yield Finding(s, e, Label.PERSON, 0.5, self.name, "lower-case first name")
            elif ((m := _LIST_NEXT.match(text, e)) is not None and m.group(1) in names) or (
                (m := _LIST_PREV.search(text, max(0, s - 40), s)) is not None
                and m.group(1) in names
            ):
                # two plain first names in one enumeration: "silvana, adam, ... and caleb"
                yield Finding(s, e, Label.PERSON, 0.6, self.name, "lower-case list of names")

    def _introduced(self, text: str, low: str) -> Iterator[Finding]:
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
            f1 = self._flags(first)
            strong = m.group(1) is not None  # "my name is", "maiden name is"
            if first.lower() in lexicon.STOP or (
                not strong and f1 & lexicon.WORD and not f1 & (lexicon.FIRST | lexicon.LAST)
            ):
                continue
            end = w.end(1)
            second = w.group(2)
            if second is not None and second.lower() not in lexicon.STOP:
                f2 = self._flags(second)
                same_case = first[:1].isupper() == second[:1].isupper()
                if same_case and (f2 == 0 or f2 & (lexicon.FIRST | lexicon.LAST)):
                    end = w.end(2)
            yield Finding(w.start(1), end, Label.PERSON, 0.75, self.name, "introduced name")

    def _lists(self, text: str, found: list[Finding]) -> list[Finding]:
        """Other items of an enumeration that holds a name: "Rudi, Jackson and Campos"."""
        seen = {(f.start, f.end) for f in found}
        out: list[Finding] = []
        queue = [f for f in found if f.score >= 0.55]
        if " and " in text and (
            " were " in text or " are " in text or " have " in text or " had " in text
        ):
            # "Dale and White were precision engineers": two people
            for m in _PAIR_VERB.finditer(text):
                if self._list_item(m.group(1), True) and self._list_item(m.group(2), True):
                    for k in (1, 2):
                        if (m.start(k), m.end(k)) not in seen:
                            seen.add((m.start(k), m.end(k)))
                            g = Finding(
                                m.start(k), m.end(k), Label.PERSON, 0.6, self.name, "pair of names"
                            )
                            out.append(g)
                            queue.append(g)
        while queue:
            f = queue.pop()
            seed_upper = text[f.start].isupper()
            pos = f.end
            nxt = text[pos : pos + 5]
            if nxt[:1] == "," or nxt == " and " or nxt[:3] == " & ":
                self._list_right(text, f, seed_upper, seen, out, queue)
            before = text[max(0, f.start - 6) : f.start].rstrip()
            if before.endswith((",", " and", " &")):
                prev = _LIST_PREV.search(text, max(0, f.start - 40), f.start)
                if prev is not None and self._list_item(prev.group(1), seed_upper):
                    span = (prev.start(1), prev.end(1))
                    if span not in seen:
                        seen.add(span)
                        g = Finding(span[0], span[1], Label.PERSON, 0.6, self.name, "list of names")
                        out.append(g)
                        queue.append(g)
        return out

    def _list_right(
        self,
        text: str,
        f: Finding,
        seed_upper: bool,
        seen: set[tuple[int, int]],
        out: list[Finding],
        queue: list[Finding],
    ) -> None:
        pos = f.end
        while True:  # items to the right
            m = _LIST_NEXT.match(text, pos)
            if m is None or not self._list_item(m.group(1), seed_upper):
                break
            pos = m.end(1)
            if (m.start(1), pos) not in seen:
                seen.add((m.start(1), pos))
                g = Finding(m.start(1), pos, Label.PERSON, 0.6, self.name, "list of names")
                out.append(g)
                queue.append(g)

    def _list_item(self, tok: str, upper: bool) -> bool:
        if tok[:1].isupper() != upper or tok.isupper() or len(tok) < 2 or not _ALPHA.match(tok):
            return False
        low = tok.lower()
        if low in lexicon.STOP or low in lexicon.TITLES or low in _NOT_NAMES:
            return False
        f = self._flags(tok)
        if f & lexicon.WORD and not f & (lexicon.FIRST | lexicon.LAST):
            return False
        return not (f & lexicon.PLACE and not f & lexicon.FIRST)

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


_NAME_INTRO = re.compile(
    r"\b(?:(my|his|her|their|your|maiden|first|last|full|middle|sur|nick)[ \t]+)?name"
    r"(?:[ \t]+is|[ \t]+was|'s|’s|:|\?)[ \t]+"
    r"|\b(?:call(?:s|ed)?[ \t]+me|named|known[ \t]+as|called)[ \t]+"
)
_NAME_WORDS = re.compile(r"([^\W\d_][\w'’\-]*)(?:[ \t]+([^\W\d_][\w'’\-]*))?")
_LIST_SEP = r"(?:,[ \t]*(?:and[ \t]+|&[ \t]+)?|,?[ \t]+(?:and|&)[ \t]+)"
_LIST_NEXT = re.compile(_LIST_SEP + r"([^\W\d_][\w'’\-]*)(?![\w'’\-])")
_LIST_PREV = re.compile(r"(?<![\w'’\-])([^\W\d_][\w'’\-]*)" + _LIST_SEP + r"$")
# a capitalised run right after a house number or unit, or right before a number, is
# part of an address: "526 Rua Cyro Schmutzer Franco 1213", "Suite 980 Reichenbach"
_ADDRESS_BEFORE = re.compile(r"(?:\b\d{1,6}[A-Za-z]?|\bApt\.?|\bSuite|\bBox)[ \t]*,?[ \t]+$")
_ADDRESS_AFTER = re.compile(r"[ \t]+\d{1,5}(?:[ \t,]|$)")


def _in_address(text: str, f: Finding) -> bool:
    if f.explanation in ("title + name", "field label", "introduced name"):
        return False
    return bool(
        _ADDRESS_BEFORE.search(text, max(0, f.start - 12), f.start)
        or _ADDRESS_AFTER.match(text, f.end)
    )


_FIELD_KEYS = ("name", "user", "author", "posted by", "handle")
_FIELD_VALUE = re.compile(
    r"(?im)(?:^|[|(\[]\s*|\s)(?:name|full name|username|user name|user|author|posted by|handle)"
    r"[ \t]*:[ \t]*([A-Za-z][\w.\-]{1,30}(?:[ \t][A-Z][\w.\-]{1,30})?)"
)
