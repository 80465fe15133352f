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

from optin.errors import ConfigError
from optin.privacy.detect import lexicon

MODEL_FILE = "name_tagger.json.gz"
_TOKEN = re.compile(r"[^\W\d_][\w'’\-]*|[@#]\w+|\d[\w.,:/\-]*|\S")
_SENT_END = frozenset(".!?\n")
_NAME_BITS = lexicon.FIRST | lexicon.LAST
# function words and months that are also first names ("Jan", "May", "Will", "Grace")
_NAME_STOPS = frozenset(["jan", "may", "june", "april", "august", "will", "king", "prince"])


@dataclass(frozen=True, slots=True)
class Token:
    start: int
    end: int
    text: str


def tokenize(text: str) -> list[Token]:
    """Words (letters, apostrophes, hyphens), @handles/#tags, numbers, single symbols."""
    return [Token(m.start(), m.end(), m.group(0)) for m in _TOKEN.finditer(text)]


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


def lexicon_info(tokens: Sequence[Token]) -> list[tuple[int, int]]:
    """(lexicon flags, census rank) of every token."""
    return [_lex(t.text) for t in tokens]


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


_SOCIAL_WORDS = re.compile(
    r"(?i)(?<![\w'])(?:lol|lmao|lmfao|rofl|omg|haha\w*|hahaha\w*|hehe\w*|u|ur|im|ya|"
    r"gonna|wanna|gotta|dont|cant|aint|ain|idk|tbh|smh|xd|rt|pls|plz|thx|luv|bro|dude|"
    r"yall|cuz|fr|ngl|af|wtf|omfg|i|damn|shit|fuck\w*|crap|wow|yeah|yea|yo|ok|okay|guys|"
    r"love|lil)(?![\w'])"
)


_LOWER_SENTENCE = re.compile(r"[.!?][ \t]+[a-z]")
_SHOUT = re.compile(r"\b[A-Z]{2,}[ \t]+[A-Z]{2,}[ \t]+[A-Z]{2,}\b")


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
        or _SOCIAL_WORDS.search(text) is not None
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
    "TaggerModel",
    "Token",
    "candidate",
    "doc_case",
    "features",
    "genre",
    "lexicon_info",
    "load_model",
    "tokenize",
]
