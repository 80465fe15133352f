"""Apply a :class:`Policy` to one text and its findings, in one pass."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from optin.privacy.anonymize.base import DocContext, build_aliases
from optin.privacy.anonymize.policy import Policy
from optin.privacy.findings import Finding, Label


@dataclass(frozen=True, slots=True)
class Redacted:
    """The outcome for one text.

    ``applied`` are the findings that were redacted, on the ORIGINAL text, sorted and
    non-overlapping. ``density`` is the share of the text's non-space characters that
    fall inside ``applied``; ``dropped`` says the record should be left out whole.
    """

    text: str
    applied: list[Finding]
    dropped: bool
    density: float


def _rank(f: Finding) -> tuple[int, float, str, str]:
    return (f.end - f.start, f.score, f.label.value, f.recognizer)


def merge_overlaps(findings: Iterable[Finding]) -> list[Finding]:
    """Sort and merge overlapping findings deterministically.

    Overlapping findings become one span covering their union; it takes the label,
    score and recognizer of the longest member (then highest score, then label and
    recognizer name). Touching but disjoint spans stay separate.
    """
    ordered = sorted(findings, key=lambda f: (f.start, -f.end, f.label.value, f.recognizer))
    out: list[Finding] = []
    group: list[Finding] = []
    end = -1
    for f in ordered:
        if group and f.start < end:
            group.append(f)
            end = max(end, f.end)
            continue
        if group:
            out.append(_merge(group, end))
        group, end = [f], f.end
    if group:
        out.append(_merge(group, end))
    return out


def _merge(group: list[Finding], end: int) -> Finding:
    if len(group) == 1:
        return group[0]
    best = max(group, key=_rank)
    return Finding(
        start=group[0].start,
        end=end,
        label=best.label,
        score=best.score,
        recognizer=best.recognizer,
        explanation=f"merged {len(group)} overlapping findings",
    )


def nonspace_len(text: str) -> int:
    return len("".join(text.split()))


def anonymize(text: str, findings: Sequence[Finding], policy: Policy) -> Redacted:
    """Replace every selected finding of ``text`` according to ``policy``.

    Findings are on the original ``text``; the output is built in one pass. With the
    ``mask``, ``pseudonym`` and ``keep`` operators the result is idempotent: redacting
    the output again (with fresh findings that do not fire on tags) changes nothing.
    """
    n = len(text)
    select = policy.selects
    chosen: list[Finding] = []
    for f in findings:
        if f.end > n:
            raise ValueError(f"finding [{f.start}, {f.end}) is beyond the text ({n})")
        if select(f):
            chosen.append(f)
    if not chosen:
        return Redacted(text, [], False, 0.0)
    applied = merge_overlaps(chosen) if len(chosen) > 1 else chosen
    ctx = DocContext(key=policy.key, tag_hex_len=policy.tag_hex_len)
    for f in applied:
        if f.label is Label.PERSON:
            ctx.aliases = build_aliases(text, applied)
            break
    parts: list[str] = []
    pos = 0
    covered = 0
    operator_for = policy.operator_for
    for f in applied:
        value = text[f.start : f.end]
        parts.append(text[pos : f.start])
        parts.append(operator_for(f.label).replace(value, f, ctx))
        covered += nonspace_len(value)
        pos = f.end
    parts.append(text[pos:])
    total = nonspace_len(text)
    density = covered / total if total else 0.0
    dropped = policy.drop_density is not None and density > policy.drop_density
    return Redacted("".join(parts), applied, dropped, density)
