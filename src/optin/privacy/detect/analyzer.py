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
from collections.abc import Iterable, Sequence

from optin.privacy.detect.base import Recognizer, create
from optin.privacy.detect.directory import Directory
from optin.privacy.findings import Finding
from optin.privacy.profiles import Profile, get_profile

_DIGIT = re.compile(r"\d")


def _rank(f: Finding) -> tuple[float, int, int, str, str]:
    return (-f.score, -(f.end - f.start), f.start, str(f.label), f.recognizer)


def resolve_overlaps(findings: Iterable[Finding]) -> list[Finding]:
    """Keep a non-overlapping subset by the documented rule, sorted by position."""
    if not isinstance(findings, list):
        findings = list(findings)
    if len(findings) < 2:
        return findings[:]
    starts: list[int] = []
    ends: list[int] = []
    kept: list[Finding] = []
    for f in sorted(set(findings), key=_rank):
        i = bisect.bisect_left(starts, f.start)
        # previous kept span ends after our start, or next kept span starts before our end
        if i > 0 and ends[i - 1] > f.start:
            continue
        if i < len(starts) and starts[i] < f.end:
            continue
        starts.insert(i, f.start)
        ends.insert(i, f.end)
        kept.insert(i, f)
    return kept


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
        self.directory = directory

    def analyze(self, text: str) -> list[Finding]:
        """Findings of every label detected in ``text`` (overlaps resolved, sorted)."""
        if not text:
            return []
        n = len(text)
        min_score = self.profile.min_score
        cands: list[Finding] = []
        has_digit = _DIGIT.search(text) is not None
        for rec in self.recognizers:
            if rec.needs_digit and not has_digit:
                continue
            for f in rec.find(text):
                if f.score >= min_score and 0 <= f.start < f.end <= n:
                    cands.append(f)
        return resolve_overlaps(cands)

    def analyze_many(self, texts: Iterable[str]) -> list[list[Finding]]:
        return [self.analyze(t) for t in texts]

    def redactable(self, findings: Iterable[Finding]) -> list[Finding]:
        """The findings this analyzer's profile redacts."""
        return [f for f in findings if self.profile.redacts(f)]
