"""The shared windows skip their whitespace searches when a window merges anyway (text
without whitespace stays linear); the windows are the same as computed plainly."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from optin.privacy.detect import scan

_WS = re.compile(r"\s")


def _plain_windows_around(
    text: str, positions: list[int], left: int, right: int
) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    n = len(text)
    for p in positions:
        lo = scan._ws_before(text, p - left)
        hi = scan._ws_after(text, min(n, p + right))
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(hi, out[-1][1]))
        else:
            out.append((lo, hi))
    return out


def _plain_digit_windows(text: str, left: int, right: int) -> list[tuple[int, int, int]]:
    out: list[tuple[int, int, int]] = []
    n = len(text)
    for s, e, d in scan.digit_runs(text):
        lo = s - left
        lo = max(text.rfind(" ", 0, lo), text.rfind("\n", 0, lo)) + 1 if lo > 0 else 0
        if out and lo <= out[-1][1]:
            plo, phi, pd = out[-1]
            if e + right > phi:
                m = _WS.search(text, e + right)
                phi = m.start() if m else n
            out[-1] = (plo, phi, max(d, pd))
        else:
            m = _WS.search(text, e + right)
            out.append((lo, m.start() if m else n, d))
    return out


_TEXT = st.text(alphabet="ab1@. \n-", max_size=80)


@settings(max_examples=300, deadline=None)
@given(_TEXT, st.integers(0, 20), st.integers(0, 20))
def test_windows_around_equals_plain(text: str, left: int, right: int) -> None:
    positions = [i for i, c in enumerate(text) if c == "@"]
    assert scan.windows_around(text, positions, left, right) == _plain_windows_around(
        text, positions, left, right
    )


@settings(max_examples=300, deadline=None)
@given(_TEXT, st.integers(0, 20), st.integers(0, 30))
def test_digit_windows_equal_plain(text: str, left: int, right: int) -> None:
    assert list(scan.digit_windows(text, left, right)) == _plain_digit_windows(text, left, right)
