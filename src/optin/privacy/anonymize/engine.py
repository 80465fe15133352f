"""Apply a :class:`Policy` to one text and its findings, in one pass."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from optin.privacy.anonymize.base import DocContext, build_aliases
from optin.privacy.anonymize.policy import Policy
from optin.privacy.findings import Finding, Label


@dataclass(frozen=True, slots=True)
class Redacted:
    """The outcome for one text.

    ``applied`` are the findings that were redacted, on the ORIGINAL text, sorted and
    non-overlapping. ``density`` is the share of the text's non-space characters that
    fall inside ``applied``; ``real_words`` the words of original text left outside them
    (:func:`real_words`); ``dropped`` says the record should be left out whole, and
    ``drop_reason`` why (:data:`DROP_DENSITY` or :data:`DROP_LITTLE_TEXT`).
    """

    text: str
    applied: list[Finding]
    dropped: bool
    density: float
    drop_reason: str | None = None
    real_words: int = -1  # -1: not counted (nothing was redacted)
    #: the fakes the policy's ``avoid`` accepted (they are in ``text``), and whether it
    #: refused any: what a changed directory could change (see
    #: :mod:`optin.privacy.directory_delta`); empty without ``avoid``
    fakes: tuple[str, ...] = ()
    fake_refused: bool = False


#: Drop reason: redacted non-space characters above the policy's ``drop_density`` share.
DROP_DENSITY = "pii_density"
#: Drop reason: fewer than the policy's ``min_real_words`` words of original text remain.
DROP_LITTLE_TEXT = "too_little_text_left"

_WORD = re.compile(r"[^\W_]+")
# on ASCII text ``_WORD`` matches ``[A-Za-z0-9]+``: its words are those runs less the
# runs of digits alone (both counted in C, no Python loop per word)
_ASCII_RUN = re.compile(r"[A-Za-z0-9]+")
# (the look-behind after the first digit: a pattern that starts with a class is searched
# at C speed; one that starts with a look-behind is tried at every position)
_ASCII_NUMBER = re.compile(r"[0-9](?<![A-Za-z0-9][0-9])[0-9]*(?![A-Za-z0-9])")


def _unspaced(ch: str) -> bool:
    """A character of a script written without spaces (Han, Hiragana, Katakana, Thai,
    Lao, Khmer, Myanmar): each one counts as a word."""
    o = ord(ch)
    return (
        0x3040 <= o <= 0x30FF
        or 0x3400 <= o <= 0x4DBF
        or 0x4E00 <= o <= 0x9FFF
        or 0xF900 <= o <= 0xFAFF
        or 0x20000 <= o <= 0x3134F
        or 0x0E00 <= o <= 0x0EFF
        or 0x1000 <= o <= 0x109F
        or 0x1780 <= o <= 0x17FF
    )


def count_words(text: str) -> int:
    """Words in ``text``: runs of letters and digits that hold at least one letter (a
    bare number is not a word), where each character of a script written without spaces
    counts as one word."""
    if text.isascii():
        return len(_ASCII_RUN.findall(text)) - len(_ASCII_NUMBER.findall(text))
    n = 0
    for m in _WORD.finditer(text):
        w = m.group(0)
        if w.isascii():
            n += not w.isdigit()
            continue
        unspaced = sum(1 for ch in w if _unspaced(ch))
        if unspaced:
            rest = "".join(" " if _unspaced(ch) else ch for ch in w).split()
            n += unspaced + sum(
                1 for r in rest if any(unicodedata.category(c)[0] == "L" for c in r)
            )
        elif any(unicodedata.category(c)[0] == "L" for c in w):
            n += 1
    return n


def real_words(text: str, applied: Sequence[Finding]) -> int:
    """Words (:func:`count_words`) of ``text`` outside the redacted spans ``applied``
    (sorted, non-overlapping): the member's own text a redacted record still carries."""
    if not applied:
        return count_words(text)
    # the parts joined by spaces: no word runs across a space, so one count of the
    # joined text is the sum of the counts of the parts
    parts = []
    pos = 0
    for f in applied:
        parts.append(text[pos : f.start])
        pos = f.end
    parts.append(text[pos:])
    return count_words(" ".join(parts))


def masked_view(text: str, applied: Sequence[Finding]) -> str:
    """``text`` with each applied finding (sorted, non-overlapping) replaced by its type
    tag (``[PERSON]``): what the ``mask`` operator gives, whatever the operator used. A
    snapshot's quality and duplicate decisions are made on this view, so the operator
    and its key never change which records are kept."""
    if not applied:
        return text
    parts: list[str] = []
    pos = 0
    for f in applied:
        parts.append(text[pos : f.start])
        parts.append(f"[{f.label}]")
        pos = f.end
    parts.append(text[pos:])
    return "".join(parts)


def drop_reason(
    density: float,
    words: int,
    *,
    drop_density: float | None,
    min_real_words: int | None,
) -> str | None:
    """The record-drop rule for a record with redacted spans, or None to keep it:
    ``pii_density`` when ``density`` is above ``drop_density``; else
    ``too_little_text_left`` when fewer than ``min_real_words`` words of original text
    remain (``None`` turns either test off)."""
    if drop_density is not None and density > drop_density:
        return DROP_DENSITY
    if min_real_words is not None and words < min_real_words:
        return DROP_LITTLE_TEXT
    return None


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


def _recorded(avoid: Callable[[str], bool], into: list[tuple[str, bool]]) -> Callable[[str], bool]:
    """``avoid``, appending each value it is asked about and its answer to ``into``."""

    def recorded(value: str) -> bool:
        refused = avoid(value)
        into.append((value, refused))
        return refused

    return recorded


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
    checked: list[tuple[str, bool]] | None = None
    avoid = policy.avoid
    if avoid is not None:
        checked = []
        avoid = _recorded(avoid, checked)
    ctx = DocContext(
        key=policy.key,
        tag_hex_len=policy.tag_hex_len,
        avoid=avoid,
        scope=hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest(),
    )
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
    words = real_words(text, applied)
    reason = drop_reason(
        density, words, drop_density=policy.drop_density, min_real_words=policy.min_real_words
    )
    fakes: tuple[str, ...] = ()
    refused = False
    if checked:
        fakes = tuple(v for v, r in checked if not r)
        refused = any(r for _, r in checked)
    return Redacted(
        "".join(parts), applied, reason is not None, density, reason, words, fakes, refused
    )
