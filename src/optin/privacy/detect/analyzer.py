"""The analyzer: runs a profile's recognizers over texts and resolves overlaps.

Build one per process (``Analyzer(profile="default", directory=...)``); recognizers
compile their patterns at import time, so building is cheap after the first.

Overlap rule (deterministic): candidates are ranked by higher score, then longer span,
then earlier start, then label name, then recognizer name; walking that ranking, a
candidate is kept unless it overlaps a span already kept. Kept findings are returned
sorted by (start, end). Findings below the profile's ``min_score`` are dropped first.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterable, Sequence
from itertools import pairwise
from typing import Any

from optin.privacy.detect.base import Recognizer, create
from optin.privacy.detect.directory import Directory
from optin.privacy.detect.unicode_view import View, view
from optin.privacy.findings import Finding
from optin.privacy.profiles import Profile, get_profile

_DIGIT = re.compile(r"\d")


def _rank(f: Finding) -> tuple[float, int, int, str, str]:
    # ``_value_`` is ``label.value`` without the enum descriptor's call (speed)
    return (-f.score, -(f.end - f.start), f.start, f.label._value_, f.recognizer)


def _start(f: Finding) -> int:
    return f.start


def _first(pair: tuple[tuple[float, int, int, str, str], Finding]) -> Any:
    return pair[0]


def resolve_overlaps(findings: Iterable[Finding]) -> list[Finding]:
    """Keep a non-overlapping subset by the documented rule, sorted by position."""
    if not isinstance(findings, list):
        findings = list(findings)
    if len(findings) < 2:
        return findings[:]
    by_start = sorted(findings, key=_start)
    for a, b in pairwise(by_start):
        if b.start < a.end:
            break
    else:
        # no two overlap (the usual case): the rule keeps every one, sorted by position
        # (two spans with one start always overlap, so the start order is total)
        return by_start
    ranks = list(map(_rank, findings))
    if len(set(ranks)) == len(ranks):
        # distinct ranks (the usual case): the order is total, no de-duplication needed
        pairs = sorted(zip(ranks, findings, strict=True), key=_first)
        ordered: Iterable[Finding] = [f for _, f in pairs]
    else:
        # equal ranks: drop exact duplicates, then break ties on the explanation so the
        # result never depends on set order (hash seed)
        ordered = sorted(set(findings), key=lambda f: (_rank(f), f.explanation))
    starts: list[int] = []
    ends: list[int] = []
    kept: list[Finding] = []
    for f in ordered:
        fs = f.start
        i = bisect.bisect_left(starts, fs)
        # previous kept span ends after our start, or next kept span starts before our end
        if i > 0 and ends[i - 1] > fs:
            continue
        if i < len(starts) and starts[i] < f.end:
            continue
        starts.insert(i, fs)
        ends.insert(i, f.end)
        kept.insert(i, f)
    return kept


def _back(v: View, findings: list[Finding]) -> list[Finding]:
    """Findings on a view, moved to the original text's offsets."""
    out = []
    for f in findings:
        s, e = v.span(f.start, f.end)
        out.append(Finding(s, e, f.label, f.score, f.recognizer, f.explanation))
    return out


def _never_redacted(rec: Recognizer, profile: Profile) -> bool:
    """Whether ``profile`` redacts none of the findings ``rec`` can emit."""
    cls = type(rec)
    if not cls.__dict__.get("exact_labels", False):
        return False  # undeclared (or inherited): assume it may emit anything
    if not cls.labels.isdisjoint(profile.redact_labels):
        return False
    return {rec.name, *cls.aliases}.isdisjoint(profile.redact_recognizers)


def _same(a: Recognizer, b: Recognizer) -> bool:
    """Whether two recognizers are of one class with equal parameters (same findings)."""
    if type(a) is not type(b):
        return False
    va, vb = vars(a), vars(b)
    return va.keys() == vb.keys() and all(va[k] is vb[k] or va[k] == vb[k] for k in va)


def _last_text(find: Callable[[str], Iterable[Finding]]) -> Callable[[str], Iterable[Finding]]:
    """``find``, remembering its findings on the last text (``find`` is pure; one
    reference swapped at a time, so threads sharing the analyzer never mix texts)."""
    box: list[tuple[str | None, tuple[Finding, ...]]] = [(None, ())]

    def remembered(text: str) -> Iterable[Finding]:
        last, found = box[0]
        if last is not text and last != text:
            found = tuple(find(text))
            box[0] = (text, found)
        return iter(found)

    return remembered


def share_inner(recognizers: Sequence[Recognizer]) -> None:
    """Recognizers that run others (``person_model`` runs the person, org, location and
    date recognizers for its features) use the analyzer's own equal instances instead,
    and those remember their findings on the last text: each runs once per text."""
    for rec in recognizers:
        inner: list[Recognizer] | None = getattr(rec, "inner_recognizers", None)
        if not inner:
            continue
        for k, r in enumerate(inner):
            for own in recognizers:
                if own is not rec and _same(own, r):
                    if "find" not in vars(own):  # not yet wrapped
                        own.find = _last_text(own.find)  # type: ignore[method-assign,assignment]
                    inner[k] = own
                    break


class Analyzer:
    """Detect personal data with the recognizers of a profile."""

    def __init__(
        self,
        profile: str | Profile = "default",
        directory: Directory | None = None,
        recognizers: Sequence[Recognizer] | None = None,
    ) -> None:
        self.profile = get_profile(profile)
        if recognizers is None:
            built: list[Recognizer] = []
            for name in self.profile.recognizers:
                params = dict(self.profile.params.get(name, {}))
                built.append(create(name, **params))
            if directory is not None:
                built.append(create("directory", directory=directory))
            recognizers = built
        self.recognizers: tuple[Recognizer, ...] = tuple(recognizers)
        share_inner(self.recognizers)
        self.directory = directory
        self._no_digit = tuple(r for r in self.recognizers if not r.needs_digit)
        # recognizers none of whose findings this profile redacts (by their declaration)
        self._keep_only = frozenset(
            id(r) for r in self.recognizers if _never_redacted(r, self.profile)
        )
        # the highest score each keep-only recognizer declares (1.0 when undeclared)
        self._max_score = {
            id(r): float(type(r).__dict__.get("max_score", 1.0))
            for r in self.recognizers
            if id(r) in self._keep_only
        }

    def analyze(self, text: str) -> list[Finding]:
        """Findings of every label detected in ``text`` (overlaps resolved, sorted).

        Recognizers run on the normalised view of ``text`` (:mod:`.unicode_view`:
        invisible characters removed, spaces, fullwidth forms and confusable letters
        folded); findings are on the original offsets."""
        v = view(text)
        if v.pos is None:
            return self._analyze(text)
        return _back(v, self._analyze(v.text))

    def analyze_redactable(self, text: str) -> list[Finding]:
        """``redactable(analyze(text))``, faster (see :meth:`_analyze_redactable`)."""
        v = view(text)
        if v.pos is None:
            return self._analyze_redactable(text)
        return _back(v, self._analyze_redactable(v.text))

    def _analyze(self, text: str) -> list[Finding]:
        if not text:
            return []
        n = len(text)
        min_score = self.profile.min_score
        cands: list[Finding] = []
        add = cands.append
        recs = self.recognizers if _DIGIT.search(text) is not None else self._no_digit
        for rec in recs:
            # Finding itself guarantees 0 <= start < end
            for f in rec.find(text):
                if f.score >= min_score and f.end <= n:
                    add(f)
        if len(cands) < 2:
            return cands
        return resolve_overlaps(cands)

    def _analyze_redactable(self, text: str) -> list[Finding]:
        """``redactable(analyze(text))``, faster. The recognizers whose findings the
        profile never redacts (cities, organisations, ordinary dates in ``default``) can
        change the result only by outranking a redactable candidate, so they run only

        * when some other recognizer found something the profile redacts (otherwise
          nothing is redacted whatever they find), and
        * when one of those redactable candidates scores no higher than the recognizer's
          declared ``max_score``: candidates are ranked by score first, so whether a
          candidate is kept depends only on candidates ranked above it; findings that
          all score below every redactable candidate rank below all of them and cannot
          change which are kept (a city at 0.5 beside names at 0.55 or more)."""
        if not text:
            return []
        if not self._keep_only:
            return self.redactable(self._analyze(text))
        recs = self.recognizers if _DIGIT.search(text) is not None else self._no_digit
        per, floor = self._redacting_pass(text, recs)
        if per is None:
            return []
        n = len(text)
        min_score = self.profile.min_score
        cands: list[Finding] = []
        for rec, done in zip(recs, per, strict=True):
            if done is None:
                if self._max_score[id(rec)] < floor:
                    continue  # ranks below every redactable candidate (see above)
                cands.extend(f for f in rec.find(text) if f.score >= min_score and f.end <= n)
            else:
                cands.extend(done)
        redacts = self.profile.redacts
        return [f for f in resolve_overlaps(cands) if redacts(f)]

    def _redacting_pass(
        self, text: str, recs: Sequence[Recognizer]
    ) -> tuple[list[list[Finding] | None] | None, float]:
        """Run every recognizer but the keep-only ones (``None`` in their place), and the
        lowest score of a redactable candidate; ``None`` when nothing found is redacted,
        so the keep-only ones need not run at all."""
        keep_only = self._keep_only
        n = len(text)
        min_score = self.profile.min_score
        redacts = self.profile.redacts
        per: list[list[Finding] | None] = []
        floor = 2.0  # above any score: no redactable candidate yet
        for rec in recs:
            if id(rec) in keep_only:
                per.append(None)  # run later, only if needed
                continue
            got = [*rec.find(text)]  # most recognizers find nothing: filter only hits
            if got:
                got = [f for f in got if f.score >= min_score and f.end <= n]
                for f in got:
                    if f.score < floor and redacts(f):
                        floor = f.score
            per.append(got)
        return (per if floor <= 1.0 else None), floor

    def analyze_many(self, texts: Iterable[str]) -> list[list[Finding]]:
        return [self.analyze(t) for t in texts]

    def redactable(self, findings: Iterable[Finding]) -> list[Finding]:
        """The findings this analyzer's profile redacts."""
        return [f for f in findings if self.profile.redacts(f)]
