"""Per-text facts shared by recognizers, computed once per text (speed).

Every recognizer gets only ``find(text)``; the analyzer runs them one after another on
the same string, so a tiny per-function cache keyed by the text lets them share one
scan for digit runs, the lower-cased text and whitespace-delimited windows. Results are
pure functions of the text.

Digit windows: most structured recognizers (cards, phones, ids, IPs, IBANs, dates,
street numbers) need a run of digits. Instead of scanning the whole text with each of
their patterns, they scan only windows around digit runs that have enough digits. A
window is widened to whitespace on both sides so that the look-arounds of a pattern see
the same characters as in a full scan.
"""

from __future__ import annotations

import re
from functools import lru_cache

# a run of digits joined by the separators numbers use ("+44 (0)20 7946-0958", "1.2.3.4")
_RUN = re.compile(r"\d[\d \-./()]*")
_UP = "".join(
    chr(c)
    for c in list(range(0x41, 0x250)) + list(range(0x386, 0x3AC)) + list(range(0x400, 0x430))
    if chr(c).isupper()
)
_UPC = re.escape(_UP)
_CAP = re.compile(rf"[{_UPC}](?<![\w@#&/.\-'’].)[^\W\d_]*(?:['’\-][^\W\d_]+)*\.?")
_WS = re.compile(r"\s")
_TRAILING = " -./()"


@lru_cache(maxsize=8)
def lower(text: str) -> str:
    """``text.lower()`` with the same length, so its indices are indices of ``text``
    ("İ" lower-cases to two code points; such characters are kept as they are)."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


@lru_cache(maxsize=8)
def digit_runs(text: str) -> tuple[tuple[int, int, int], ...]:
    """(start, end, number of digits) of every digit run, trailing separators dropped."""
    out: list[tuple[int, int, int]] = []
    for m in _RUN.finditer(text):
        seg = m.group(0)
        s = m.start()
        if seg.isdigit():
            out.append((s, s + len(seg), len(seg)))
            continue
        seg = seg.rstrip(_TRAILING)
        n = len(seg)
        seps = seg.count(" ") + seg.count("-") + seg.count(".")
        seps += seg.count("/") + seg.count("(") + seg.count(")")
        out.append((s, s + n, n - seps))
    return tuple(out)


def max_digits(text: str) -> int:
    runs = digit_runs(text)
    return max((r[2] for r in runs), default=0)


def _ws_before(text: str, pos: int) -> int:
    """Index just after the last whitespace before ``pos`` (0 when none)."""
    if pos <= 0:
        return 0
    i = max(text.rfind(" ", 0, pos), text.rfind("\n", 0, pos))
    return i + 1 if i >= 0 else 0


def _ws_after(text: str, pos: int) -> int:
    m = _WS.search(text, pos)
    return m.start() if m else len(text)


# margins of the shared number windows: wide enough for "12th of September, 2002",
# "passport no. M62225531", "+44 (0)20 ...", "GB82 WEST 1234 ..." and phone extensions
NUMBER_LEFT = 18
NUMBER_RIGHT = 28


@lru_cache(maxsize=16)
def digit_windows(
    text: str, left: int = NUMBER_LEFT, right: int = NUMBER_RIGHT
) -> tuple[tuple[int, int, int], ...]:
    """Merged ``(lo, hi, most digits in one run)`` windows around every digit run.

    ``lo`` is ``left`` characters before a run, moved back to a word start; ``hi`` is
    ``right`` characters after it, moved on to the next whitespace. A recognizer that
    needs ``k`` digits skips windows whose third field is below ``k``.
    """
    out: list[tuple[int, int, int]] = []
    n = len(text)
    ws = _WS.search
    for s, e, d in digit_runs(text):
        lo = s - left
        if out and lo <= out[-1][1]:
            pass  # merges whatever whitespace precedes it: no backward search (linear)
        else:
            lo = max(text.rfind(" ", 0, lo), text.rfind("\n", 0, lo)) + 1 if lo > 0 else 0
        if out and lo <= out[-1][1]:
            plo, phi, pd = out[-1]
            if e + right > phi:
                m = ws(text, e + right)
                phi = m.start() if m else n
            out[-1] = (plo, phi, d if d > pd else pd)
        else:
            m = ws(text, e + right)
            out.append((lo, m.start() if m else n, d))
    return tuple(out)


def number_windows(text: str, min_digits: int) -> list[tuple[int, int]]:
    """The shared number windows holding a digit run of at least ``min_digits`` digits."""
    wins = digit_windows(text)
    if not wins:
        return []
    return [(lo, hi) for lo, hi, d in wins if d >= min_digits]


def windows_around(text: str, positions: list[int], left: int, right: int) -> list[tuple[int, int]]:
    """Merged whitespace-snapped windows around character positions (sorted)."""
    out: list[tuple[int, int]] = []
    n = len(text)
    for p in positions:
        if out and p - left <= out[-1][1]:
            # merges with the previous window whatever whitespace precedes it; and the
            # previous end already covers ours when we end before it (no search: text
            # without whitespace stays linear, "x@x@x@...")
            plo, phi = out[-1]
            if min(n, p + right) > phi:
                out[-1] = (plo, max(_ws_after(text, min(n, p + right)), phi))
            continue
        lo = _ws_before(text, p - left)
        hi = _ws_after(text, min(n, p + right))
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(hi, out[-1][1]))
        else:
            out.append((lo, hi))
    return out


@lru_cache(maxsize=8)
def cap_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every capitalised word (a trailing "." included)."""
    return [m.span() for m in _CAP.finditer(text)]


@lru_cache(maxsize=8)
def cap_words(text: str) -> list[str]:
    """The capitalised words of :func:`cap_spans`, in the same order."""
    return [text[s:e] for s, e in cap_spans(text)]
