"""Person names from the statistical tagger, stacked on the rule recognizers.

The ``accurate`` profile runs this instead of ``person``. The rule recognizers (person,
org, location, date_time) run first; what they found becomes a feature of the tagger
(:mod:`optin.privacy.detect.tagger`), which then decides, word by word, what is a
name. Adjacent name words are joined into one finding whose score grows with the
tagger's margin (0.725-0.95).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator, Sequence

from optin.privacy.detect.base import Recognizer, register
from optin.privacy.detect.recognizers.date_time import DateTimeRecognizer
from optin.privacy.detect.recognizers.location import LocationRecognizer
from optin.privacy.detect.recognizers.org import OrgRecognizer
from optin.privacy.detect.recognizers.person import PersonRecognizer
from optin.privacy.detect.tagger import (
    Scorer,
    TaggerModel,
    Token,
    candidate,
    doc_case,
    genre,
    lexicon_info,
    load_model,
    tokenize,
)
from optin.privacy.findings import Finding, Label

_CANDIDATES: dict[str, bool] = {}
_RULE_TAG = {"person": "P", "org": "O", "location": "L", "date_time": "D", "date_of_birth": "D"}


def rule_tags(text: str, tokens: Sequence[Token], rules: Sequence[Recognizer]) -> list[str]:
    """Per token, which rule recognizer covers it ("" when none; person wins ties)."""
    tags = [""] * len(tokens)
    if not tokens:
        return tags
    starts = [t.start for t in tokens]
    for rec in rules:
        for f in rec.find(text):
            tag = _RULE_TAG.get(f.recognizer, "?")
            if tag == "P":
                tag = "P:" + f.explanation.split(" (")[0]
            k = bisect.bisect_left(starts, f.start)
            if k > 0 and tokens[k - 1].end > f.start:
                k -= 1
            while k < len(tokens) and tokens[k].start < f.end:
                if not tags[k] or tag.startswith("P"):
                    tags[k] = tag
                k += 1
    return tags


def default_rules() -> list[Recognizer]:
    return [PersonRecognizer(), OrgRecognizer(), LocationRecognizer(), DateTimeRecognizer()]


@register
class PersonModelRecognizer(Recognizer):
    """PERSON spans from the shipped tagger (``accurate`` profile)."""

    name = "person_model"
    labels = frozenset({Label.PERSON})

    def __init__(
        self,
        threshold: float | None = None,
        temperature: float = 2.0,
        model: TaggerModel | None = None,
    ) -> None:
        self.model = load_model() if model is None else model
        # a fixed threshold for every genre, or the model's per-genre thresholds
        self.threshold = threshold
        self.temperature = temperature
        self._rules = default_rules()
        #: the rule recognizers this one runs; the analyzer may swap in its own equal
        #: instances so that each runs once per text (see ``analyzer.share_inner``)
        self.inner_recognizers = self._rules
        self._scorer = Scorer(self.model)

    def find(self, text: str) -> Iterator[Finding]:
        tokens = tokenize(text)
        if not tokens:
            return
        info = lexicon_info(tokens)
        rules = rule_tags(text, tokens, self._rules)
        style = genre(text)
        case = doc_case(tokens)
        threshold = self.model.threshold_for(style) if self.threshold is None else self.threshold
        # the candidates' scores, as model.score(features(...)) gives them (Scorer)
        seen = _CANDIDATES  # candidate() per token text (its lexicon entry is one too)
        if len(seen) > 100_000:
            seen.clear()
        idx = []
        for i, tok in enumerate(tokens):
            c = seen.get(tok.text)
            if c is None:
                c = seen[tok.text] = candidate(tok.text, info[i][0])
            if c:
                idx.append(i)
        scores = self._scorer.scores(tokens, idx, info, rules, style, case)
        marked: list[tuple[int, float]] = []
        for i, score in zip(idx, scores, strict=True):
            margin = score - threshold
            if margin > 0:
                marked.append((i, margin))
        yield from join_marked(text, tokens, marked, self.name, self.temperature)


def join_marked(
    text: str,
    tokens: Sequence[Token],
    marked: Sequence[tuple[int, float]],
    name: str = "person_model",
    temperature: float = 2.0,
) -> Iterator[Finding]:
    """PERSON findings from (token index, margin > 0) pairs in token order: adjacent name
    words ("Jane Q. Roe") are joined into one span scored by its best margin."""
    k = 0
    while k < len(marked):
        i0, best = marked[k]
        j = k
        while (
            j + 1 < len(marked)
            and marked[j + 1][0] == marked[j][0] + 1
            and text[tokens[marked[j][0]].end : tokens[marked[j + 1][0]].start] in (" ", "")
        ):
            j += 1
            best = max(best, marked[j][1])
        start, end = tokens[i0].start, tokens[marked[j][0]].end
        score = 0.5 + 0.45 / (1.0 + math.exp(-best / temperature))
        yield Finding(start, end, Label.PERSON, round(score, 4), name, "name tagger")
        k = j + 1
