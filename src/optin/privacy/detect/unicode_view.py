"""A normalised view of a text for detection, with a map back to the original offsets.

Evasion by Unicode hides personal data from patterns without hiding it from a reader:
an e-mail with a Cyrillic "а" or a fullwidth "＠", a zero-width space or soft hyphen
inside a phone number or a name, NBSP between the groups of a number, a NUL splitting a
token. Recognizers run on :func:`view`'s text instead, where

* format characters (zero-width space/joiners, word joiner, soft hyphen, BOM, bidi
  controls, variation selectors) and control characters other than tab, newline and
  carriage return (NUL included) are removed;
* every other space character (NBSP, narrow NBSP, ideographic space, line and
  paragraph separators, ...) becomes " ";
* fullwidth ASCII forms ("＠", "１") and mathematical alphanumerics ("𝐣") become ASCII;
* Cyrillic and Greek letters that look like Latin ones (a small table of one-to-one
  TR39 confusables) become Latin, but only inside a token that also holds an ASCII
  letter or an "@" — a Russian or Greek sentence is left as it is;
* lone surrogates become U+FFFD.

Each character of the view comes from exactly one original character (substitutions
are one to one, the rest is removal), so a span ``[s, e)`` of the view maps back to
``[pos[s], pos[e - 1] + 1)`` of the original: every original character between the
first and the last mapped one is covered, the invisible ones included, and redaction
replaces the original characters. ASCII texts without control characters (most) are
their own view.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# Cyrillic and Greek letters confusable with one Latin letter (Unicode TR39
# confusables.txt, the one-to-one entries for these scripts)
_CONFUSABLE = {
    # Cyrillic
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i",
    "ј": "j", "ѕ": "s", "ԁ": "d", "ԛ": "q", "ԝ": "w", "һ": "h", "ӏ": "l", "ց": "g",
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P",
    "С": "C", "Т": "T", "Х": "X", "І": "I", "Ј": "J", "Ѕ": "S", "Ү": "Y", "Ԁ": "D",
    "Ԛ": "Q", "Ԝ": "W", "Һ": "h",
    # Greek
    "α": "a", "ο": "o", "ι": "i", "κ": "k", "ν": "v", "ρ": "p", "υ": "u", "χ": "x",
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M",
    "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
}  # fmt: skip
_CONF_CLASS = "".join(sorted(_CONFUSABLE))
# characters that may change the view (a text without any is its own view)
_SUSPECT = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u00a0\u00ad\u034f\u061c\u115f\u1160\u1680"
    "\u17b4\u17b5\u180b-\u180f\u2000-\u200f\u2028-\u202f\u205f-\u206f\u3000\u3164"
    "\ufe00-\ufe0f\ufeff\uff01-\uff5e\uffa0\ud800-\udfff\U0001d400-\U0001d7ff"
    f"{_CONF_CLASS}]"
)
_ASCII_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONF_CHAR = re.compile(f"[{_CONF_CLASS}]")
_TOKEN = re.compile(r"\S+")
_LATIN_OR_AT = re.compile(r"[A-Za-z@＠]")


@dataclass(frozen=True, slots=True)
class View:
    """``text`` for the recognizers; ``pos[i]`` is the original index of ``text[i]``
    (``None``: the view is the original text itself)."""

    text: str
    pos: tuple[int, ...] | None

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original span of the view's ``[start, end)`` (``end > start``)."""
        if self.pos is None:
            return start, end
        return self.pos[start], self.pos[end - 1] + 1


@lru_cache(maxsize=4096)
def _fold(ch: str) -> str:
    """'' (remove), or the one character ``ch`` stands for in the view."""
    o = ord(ch)
    if 0xD800 <= o <= 0xDFFF:
        return "\ufffd"
    if ch in "\t\n\r":
        return ch
    cat = unicodedata.category(ch)
    if cat in ("Cc", "Cf") or 0xFE00 <= o <= 0xFE0F or 0x180B <= o <= 0x180F or o == 0x034F:
        return ""
    if cat in ("Zs", "Zl", "Zp"):
        return " "
    if 0xFF01 <= o <= 0xFF5E:
        return chr(o - 0xFEE0)
    if 0x1D400 <= o <= 0x1D7FF:
        n = unicodedata.normalize("NFKC", ch)
        return n if len(n) == 1 else ch
    if o in (0x115F, 0x1160, 0x3164, 0xFFA0, 0x17B4, 0x17B5):  # fillers shown as nothing
        return ""
    return ch


def view(text: str) -> View:
    """The detection view of ``text`` (see the module docstring)."""
    if text.isascii():
        # printable ASCII holds no control character at all (tab and newline are not
        # printable: those texts take the search)
        if text.isprintable() or _ASCII_CONTROL.search(text) is None:
            return View(text, None)
    elif _SUSPECT.search(text) is None:
        return View(text, None)
    # confusables count only in tokens that also hold an ASCII letter or "@"
    swap: set[int] = set()
    if _CONF_CHAR.search(text) is not None:
        for m in _TOKEN.finditer(text):  # linear: each token once
            tok = m.group(0)
            if _CONF_CHAR.search(tok) is None or _LATIN_OR_AT.search(tok) is None:
                continue
            base = m.start()
            swap.update(base + i for i, c in enumerate(tok) if c in _CONFUSABLE)
    out: list[str] = []
    pos: list[int] = []
    changed = False
    for i, ch in enumerate(text):
        if i in swap:
            out.append(_CONFUSABLE[ch])
            pos.append(i)
            changed = True
            continue
        if " " <= ch <= "~" or ch in "\t\n\r":  # printable ASCII: as it is
            out.append(ch)
            pos.append(i)
            continue
        f = _fold(ch)
        if f != ch:
            changed = True
        if f:
            out.append(f)
            pos.append(i)
    if not changed:
        return View(text, None)
    return View("".join(out), tuple(pos))


__all__ = ["View", "view"]
