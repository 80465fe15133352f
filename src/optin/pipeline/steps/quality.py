"""Quality filters, each with a reason: language tag, minimum length, boilerplate."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import pyarrow as pa

_WORD = re.compile(r"\w+", re.UNICODE)
_UNKNOWN_LANG = frozenset({"", "und", "zxx", "mul", "mis"})
_TAG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


def language_filter(table: pa.Table, allowed: Sequence[str]) -> tuple[pa.Table, Counter[str]]:
    """Drop rows with an unknown language tag (``language_unknown``) or, when ``allowed``
    is not empty, a primary tag outside it (``language_not_allowed``)."""
    allowed_set = {a.lower() for a in allowed}
    keep: list[bool] = []
    counts: Counter[str] = Counter()
    for tag in table["language"].to_pylist():
        t = (tag or "").strip()
        if t.lower() in _UNKNOWN_LANG or not _TAG.match(t):
            counts["language_unknown"] += 1
            keep.append(False)
        elif allowed_set and t.split("-")[0].lower() not in allowed_set:
            counts["language_not_allowed"] += 1
            keep.append(False)
        else:
            keep.append(True)
    return table.filter(pa.array(keep, pa.bool_())), counts


def quality_reason(
    text: str | None,
    *,
    min_chars: int,
    min_words: int,
    boilerplate: Sequence[str],
    max_repeat_ratio: float,
) -> str | None:
    """Why ``text`` fails the quality bar, or None when it passes."""
    if text is None:
        return "empty"
    stripped = text.strip()
    if len(stripped) < min_chars:
        return "too_short"
    words = _WORD.findall(stripped.lower())
    if len(words) < min_words:
        return "too_few_words"
    low = stripped.lower()
    if any(p in low for p in boilerplate):
        return "boilerplate"
    if len(words) >= 10 and 1 - len(set(words)) / len(words) > max_repeat_ratio:
        return "repetitive"
    return None


def quality_filter(
    table: pa.Table,
    *,
    min_chars: int,
    min_words: int,
    boilerplate: Sequence[str],
    max_repeat_ratio: float,
    column: str = "text",
) -> tuple[pa.Table, Counter[str]]:
    """Keep rows whose ``column`` passes :func:`quality_reason`."""
    counts: Counter[str] = Counter()
    keep: list[bool] = []
    for text in table[column].to_pylist():
        r = quality_reason(
            text,
            min_chars=min_chars,
            min_words=min_words,
            boilerplate=boilerplate,
            max_repeat_ratio=max_repeat_ratio,
        )
        if r is not None:
            counts[r] += 1
        keep.append(r is None)
    return table.filter(pa.array(keep, pa.bool_())), counts
