"""A small statistical person-name tagger (averaged perceptron over hand-made features).

Used by the ``person_model`` recognizer of the ``accurate`` profile. Each word of a
text gets a score from sparse binary features: its shape and capitalisation, what the
shipped lexicon says of it (first name, surname, common word, place, popularity), the
neighbouring words and their shapes, where it sits in the sentence, and what the rule
recognizers (person, org, location, date) found there, and two cheap facts of the whole
text: its :func:`genre` (social post, other short text, long document) and how it uses
capitals (:func:`doc_case`). Words scoring above the threshold of the text's genre are
PERSON; adjacent ones are joined into one span.

The weights are trained locally at development time by ``bench/train_name_tagger.py``
on the dev splits of ``../shared/benchmarks/pii`` and shipped as
``optin/privacy/data/name_tagger.json.gz``; nothing is downloaded. Word identities are
features only for common words (lexicon words, function words), never for names, so the
model learns contexts and shapes rather than the names of the training set.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, NamedTuple

from optin.errors import ConfigError
from optin.privacy.detect import lexicon

MODEL_FILE = "name_tagger.json.gz"
_TOKEN = re.compile(r"[^\W\d_][\w'’\-]*|[@#]\w+|\d[\w.,:/\-]*|\S")
_SENT_END = frozenset(".!?\n")
_NAME_BITS = lexicon.FIRST | lexicon.LAST
# function words and months that are also first names ("Jan", "May", "Will", "Grace")
_NAME_STOPS = frozenset(["jan", "may", "june", "april", "august", "will", "king", "prince"])


class Token(NamedTuple):
    """One token: ``text == source[start:end]`` (a named tuple: cheap to make, and a
    text holds dozens)."""

    start: int
    end: int
    text: str


def tokenize(text: str) -> list[Token]:
    """Words (letters, apostrophes, hyphens), @handles/#tags, numbers, single symbols."""
    new = tuple.__new__  # Token(...) without the named tuple's Python-level __new__
    return [new(Token, (*m.span(), m.group())) for m in _TOKEN.finditer(text)]


def _shape(tok: str) -> str:
    if not tok[:1].isalpha():
        return (
            "sym" if len(tok) == 1 and not tok.isalnum() else "num" if tok[0].isdigit() else "tag"
        )
    if tok.isupper():
        return "X" if len(tok) == 1 else "XX"
    if tok[0].isupper():
        return "Xx" if tok[1:] == tok[1:].lower() else "XxX"
    return "x" if tok == tok.lower() else "xX"


def _lex(tok: str) -> tuple[int, int]:
    low = tok.lower()
    if low.endswith(("'s", "’s")):
        low = low[:-2]
    return lexicon.names().get(low, (0, 0))


_LEX: dict[str, tuple[int, int]] = {}  # _lex per token as written (bounded below)


def lexicon_info(tokens: Sequence[Token]) -> list[tuple[int, int]]:
    """(lexicon flags, census rank) of every token."""
    if len(_LEX) > 100_000:
        _LEX.clear()
    out = []
    for t in tokens:
        e = _LEX.get(t.text)
        if e is None:
            e = _LEX[t.text] = _lex(t.text)
        out.append(e)
    return out


def _flag_names(f: int, rank: int) -> list[str]:
    out = []
    if f & lexicon.FIRST:
        out.append("F")
    if f & lexicon.LAST:
        out.append("L")
    if f & lexicon.WORD:
        out.append("W")
    if f & lexicon.PLACE:
        out.append("P")
    if not f:
        out.append("unk")
    if f & _NAME_BITS and rank:
        out.append(
            "r150" if rank <= 150 else "r1k" if rank <= 1000 else "r5k" if rank <= 5000 else "rlo"
        )
    return out


def _common(tok: str, f: int) -> bool:
    """Word identity is a feature only for function words and common non-name words."""
    low = tok.lower()
    return (
        low in lexicon.STOP
        or low in lexicon.TITLES
        or (bool(f & lexicon.WORD) and not f & _NAME_BITS)
    )


_SOCIAL_ALTERNATIVES = (
    r"(?:lol|lmao|lmfao|rofl|omg|haha\w*|hahaha\w*|hehe\w*|u|ur|im|ya|"
    r"gonna|wanna|gotta|dont|cant|aint|ain|idk|tbh|smh|xd|rt|pls|plz|thx|luv|bro|dude|"
    r"yall|cuz|fr|ngl|af|wtf|omfg|i|damn|shit|fuck\w*|crap|wow|yeah|yea|yo|ok|okay|guys|"
    r"love|lil)"
)
#: a slang word: the definition (:func:`social_word` finds the same, faster)
_SOCIAL_WORDS = re.compile(rf"(?i)(?<![\w']){_SOCIAL_ALTERNATIVES}(?![\w'])")
# every match of _SOCIAL_WORDS is made of word characters and has no word character or
# apostrophe on either side: it is a whole maximal run of [\w'] characters, so testing
# each run once is the same search
_WORD_RUN = re.compile(r"[\w']+")
_NOT_RUN_TO_SPACE = str.maketrans(
    {chr(c): " " for c in range(128) if not (chr(c).isalnum() or chr(c) in "_'")}
)
_SOCIAL_RUN = re.compile(rf"(?i){_SOCIAL_ALTERNATIVES}")
_SOCIAL_FIXED = frozenset(
    w for w in _SOCIAL_ALTERNATIVES[3:-1].split("|") if not w.endswith("\\w*")
)
_SOCIAL_PREFIXES = tuple(
    w[:-3] for w in _SOCIAL_ALTERNATIVES[3:-1].split("|") if w.endswith("\\w*")
)
# on lower-cased ASCII text: the alternatives that take any word characters after them
_SOCIAL_PREFIXED = re.compile(rf"(?<![\w'])(?:{'|'.join(_SOCIAL_PREFIXES)})\w*(?![\w'])")


def social_word(text: str) -> bool:
    """``_SOCIAL_WORDS.search(text) is not None``, one run of word characters at a time:
    an ASCII run by a set lookup (case folding of ASCII is plain lower case), any other
    by the pattern itself (so Unicode case folding stays the pattern's)."""
    if text.isascii():
        low = text.lower()
        # the runs of [\w'] characters: every other ASCII character made a space
        if not _SOCIAL_FIXED.isdisjoint(low.translate(_NOT_RUN_TO_SPACE).split()):
            return True
        return any(p in low for p in _SOCIAL_PREFIXES) and _SOCIAL_PREFIXED.search(low) is not None
    for run in _WORD_RUN.findall(text):
        if run.isascii():
            low = run.lower()
            if low in _SOCIAL_FIXED or (low.startswith(_SOCIAL_PREFIXES) and "'" not in low):
                return True
        elif _SOCIAL_RUN.fullmatch(run) is not None:
            return True
    return False


_LOWER_SENTENCE = re.compile(r"[.!?][ \t]+[a-z]")
# three all-caps words; "\b" before the first as a look-behind after its first letter
# (a pattern that starts with a class is searched at C speed)
_SHOUT = re.compile(r"[A-Z](?<!\w[A-Z])[A-Z]+[ \t]+[A-Z]{2,}[ \t]+[A-Z]{2,}\b")


_EMOJI = re.compile("[\u2600-\u27bf\U0001f000-\U0010ffff]")


def genre(text: str) -> str:
    """A coarse style of the whole text, from cheap cues: ``social`` (a short post with
    emojis, slang, no capital at the start or "!!"), ``short`` (other short texts) or
    ``long`` (documents)."""
    if len(text) >= 400:
        return "long"
    first = next((ch for ch in text if ch.isalpha()), "")
    if (
        (first and first.islower())
        or "!!" in text
        or "! !" in text
        or _EMOJI.search(text) is not None
        or social_word(text)
        or _LOWER_SENTENCE.search(text) is not None
        or _SHOUT.search(text) is not None
    ):
        return "social"
    return "short"


def features(
    tokens: Sequence[Token],
    i: int,
    info: Sequence[tuple[int, int]],
    rules: Sequence[str],
    style: str = "short",
    case: str = "mx",
) -> list[str]:
    """Sparse binary features of ``tokens[i]``; ``info`` = lexicon (flags, rank) per token,
    ``rules`` = the rule recognizers' tag per token ("" when none), ``style`` =
    :func:`genre` of the text."""
    tok = tokens[i].text
    f, rank = info[i]
    shape = _shape(tok)
    fl = _flag_names(f, rank)
    feats = ["b", "s=" + shape, "rule=" + rules[i], "len=" + str(min(len(tok), 8))]
    feats += ["f=" + x for x in fl]
    feats += ["sf=" + shape + x for x in fl]
    feats += ["g=" + style + shape + x for x in fl]
    feats.append("g=" + style + rules[i])
    if case != "mx":
        feats += ["dc=" + case + shape + x for x in fl]
    if _common(tok, f):
        feats.append("w=" + tok.lower())
    else:
        low = tok.lower()
        feats.append("suf=" + low[-3:])
        feats.append("suf2=" + low[-2:])
    if tok.lower() in lexicon.TITLES:
        feats.append("title")
    if i == 0 or tokens[i - 1].text in _SENT_END:
        feats.append("first")
        feats.append("first" + shape)
    for d, tag in ((-1, "p"), (1, "n"), (-2, "pp"), (2, "nn")):
        _neighbour(feats, tokens, i + d, tag, abs(d) == 1, info, rules, shape)
    return feats


def _neighbour(
    feats: list[str],
    tokens: Sequence[Token],
    j: int,
    tag: str,
    adjacent: bool,
    info: Sequence[tuple[int, int]],
    rules: Sequence[str],
    shape: str,
) -> None:
    """Append the features of the context token ``tokens[j]`` (prefixed ``tag``)."""
    if j < 0 or j >= len(tokens):
        feats.append(tag + "=<none>")
        return
    t = tokens[j].text
    fj, rj = info[j]
    sj = _shape(t)
    feats.append(tag + "s=" + sj)
    if adjacent:
        feats.append(tag + "rule=" + rules[j])
        feats += [tag + "f=" + x for x in _flag_names(fj, rj)]
        feats.append(tag + "ss=" + sj + shape)
    if _common(t, fj) or not t[:1].isalpha():
        feats.append(tag + "w=" + t.lower())


def doc_case(tokens: Sequence[Token]) -> str:
    """How the whole text uses capitals: ``lc`` (hardly any capitalised word, so case
    says little about names), ``uc`` (mostly all-caps words) or ``mx``."""
    words = [t.text for t in tokens if t.text[:1].isalpha() and len(t.text) > 1]
    if len(words) < 3:
        return "mx"
    caps = sum(1 for w in words if w[0].isupper())
    upper = sum(1 for w in words if w.isupper())
    if upper * 5 >= len(words) * 3:
        return "uc"
    if caps * 10 <= len(words):
        return "lc"
    return "mx"


@dataclass(frozen=True)
class TaggerModel:
    weights: dict[str, float]
    threshold: float
    # per :func:`genre` thresholds chosen by cross-validation; ``threshold`` otherwise
    thresholds: dict[str, float] = field(default_factory=dict)

    def threshold_for(self, style: str) -> float:
        return self.thresholds.get(style, self.threshold)

    def score(self, feats: Iterable[str]) -> float:
        w = self.weights
        return sum(w.get(x, 0.0) for x in feats)


class Scorer:
    """``model.score(features(tokens, i, ...))`` for many tokens of one text, without
    building the feature strings (speed; the same value to the last bit).

    A token's features are its own (shape, lexicon flags, rule tag, length, the text's
    genre and case, its word or suffixes, title, sentence start) followed by those of
    each neighbour at -1, +1, -2, +2 (shape, and next to it rule tag, flags and the pair
    of shapes; the word when common). Each part depends on a few small values only, so
    the weights of its features (the non-zero ones, in :func:`features`' order) are kept
    per part key, and a token's score is ``sum`` over the concatenated parts: the same
    additions in the same order as :meth:`TaggerModel.score` (adding 0.0 changes
    nothing). Parts recur across texts (shapes, flags, suffixes), so the tables stay
    small; they are bounded anyway.
    """

    _MAX = 50_000

    def __init__(self, model: TaggerModel) -> None:
        self.weights = model.weights
        self._own: dict[tuple[object, ...], tuple[float, ...]] = {}
        self._near: dict[tuple[object, ...], tuple[float, ...]] = {}
        self._words: dict[str, tuple[str, tuple[str, ...], str, bool, str | None]] = {}

    def _pick(self, feats: list[str]) -> tuple[float, ...]:
        w = self.weights
        return tuple(v for v in map(w.get, feats) if v)

    def scores(
        self,
        tokens: Sequence[Token],
        indices: Sequence[int],
        info: Sequence[tuple[int, int]],
        rules: Sequence[str],
        style: str = "short",
        case: str = "mx",
    ) -> list[float]:
        """The score of every token in ``indices``."""
        n = len(tokens)
        own, near = self._own, self._near
        if len(own) > self._MAX or len(near) > self._MAX:
            own.clear()
            near.clear()
        # per token: shape, flag names, lower case, common word, the word as a neighbour
        # feature (all functions of the token's text, whose lexicon entry ``info`` is)
        words = self._words
        if len(words) > self._MAX:
            words.clear()
        descs = []
        for j in range(n):
            t = tokens[j].text
            d = words.get(t)
            if d is None:
                fj, rj = info[j]
                lowj = t.lower()
                commonj = _common(t, fj)
                d = words[t] = (
                    _shape(t), tuple(_flag_names(fj, rj)), lowj, commonj,
                    lowj if commonj or not t[:1].isalpha() else None,
                )  # fmt: skip
            descs.append(d)
        bases = [(d[0], d[4], r, d[1]) for d, r in zip(descs, rules, strict=True)]
        titles = lexicon.TITLES
        out: list[float] = []
        for i in indices:
            shape, fl, low, common, _ = descs[i]
            first = i == 0 or tokens[i - 1].text in _SENT_END
            size = min(len(tokens[i].text), 8)
            key = (shape, fl, rules[i], size, style, case, common, low if common
                   else (low[-3:], low[-2:]), low in titles, first)  # fmt: skip
            total = own.get(key)
            if total is None:
                total = own[key] = self._pick(
                    _own_features(size, shape, fl, rules[i], style, case, common, low, first)
                )
            # the neighbours at -1, +1, -2, +2, in that order (unrolled: speed)
            nkey: tuple[Any, ...] = ("p", bases[i - 1], shape) if i >= 1 else _NONE_P
            nw = near.get(nkey)
            if nw is None:
                nw = near[nkey] = self._pick(_near_features(nkey))
            total += nw
            nkey = ("n", bases[i + 1], shape) if i + 1 < n else _NONE_N
            nw = near.get(nkey)
            if nw is None:
                nw = near[nkey] = self._pick(_near_features(nkey))
            total += nw
            if i >= 2:
                b = bases[i - 2]
                nkey = ("pp", b[0], b[1])
            else:
                nkey = _NONE_PP
            nw = near.get(nkey)
            if nw is None:
                nw = near[nkey] = self._pick(_near_features(nkey))
            total += nw
            if i + 2 < n:
                b = bases[i + 2]
                nkey = ("nn", b[0], b[1])
            else:
                nkey = _NONE_NN
            nw = near.get(nkey)
            if nw is None:
                nw = near[nkey] = self._pick(_near_features(nkey))
            total += nw
            out.append(sum(total))
        return out


_NONE_P, _NONE_N, _NONE_PP, _NONE_NN = ("p",), ("n",), ("pp",), ("nn",)


def _own_features(
    size: int, shape: str, fl: tuple[str, ...], rule: str, style: str, case: str,
    common: bool, low: str, first: bool,
) -> list[str]:  # fmt: skip
    """The token's own features, in :func:`features`' order (``size``: its length, at
    most 8)."""
    feats = ["b", "s=" + shape, "rule=" + rule, "len=" + str(size)]
    feats += ["f=" + x for x in fl]
    feats += ["sf=" + shape + x for x in fl]
    feats += ["g=" + style + shape + x for x in fl]
    feats.append("g=" + style + rule)
    if case != "mx":
        feats += ["dc=" + case + shape + x for x in fl]
    if common:
        feats.append("w=" + low)
    else:
        feats.append("suf=" + low[-3:])
        feats.append("suf2=" + low[-2:])
    if low in lexicon.TITLES:
        feats.append("title")
    if first:
        feats.append("first")
        feats.append("first" + shape)
    return feats


def _near_features(key: tuple[Any, ...]) -> list[str]:
    """A neighbour's features from its :meth:`Scorer.scores` key, in :func:`_neighbour`'s
    order: ``(tag,)`` (none), ``(tag, shape, word)`` (two away) or ``(tag, (shape, word,
    rule, flags), shape of the token)`` (adjacent)."""
    tag = key[0]
    if len(key) == 1:
        return [tag + "=<none>"]
    if isinstance(key[1], tuple):
        (sj, word, rule, flj), shape = key[1], key[2]
        feats = [tag + "s=" + sj, tag + "rule=" + rule]
        feats += [tag + "f=" + x for x in flj]
        feats.append(tag + "ss=" + sj + shape)
    else:
        sj, word = key[1], key[2]
        feats = [tag + "s=" + sj]
    if word is not None:
        feats.append(tag + "w=" + word)
    return feats


@lru_cache(maxsize=1)
def load_model() -> TaggerModel:
    """The shipped model (read once per process)."""
    try:
        raw = resources.files("optin.privacy.data").joinpath(MODEL_FILE).read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"optin/privacy/data/{MODEL_FILE} is missing; rebuild it with "
            "'python bench/train_name_tagger.py' or use the 'default' profile"
        ) from None
    data = json.loads(gzip.decompress(raw).decode("utf-8"))
    return TaggerModel(
        weights=data["weights"],
        threshold=float(data["threshold"]),
        thresholds={k: float(v) for k, v in data.get("thresholds", {}).items()},
    )


def candidate(tok: str, f: int) -> bool:
    """Whether a token is scored at all (others are never names: symbols, numbers,
    lower-case common words)."""
    if not tok[:1].isalpha():
        return False
    low = tok.lower()
    if low in lexicon.STOP and low not in _NAME_STOPS:
        return False
    if tok[0].isupper():
        return True
    return not (f & lexicon.WORD and not f & _NAME_BITS)


__all__ = [
    "MODEL_FILE",
    "Scorer",
    "TaggerModel",
    "Token",
    "candidate",
    "doc_case",
    "features",
    "genre",
    "lexicon_info",
    "load_model",
    "social_word",
    "tokenize",
]
