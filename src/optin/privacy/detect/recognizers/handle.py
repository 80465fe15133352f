"""@handles (never e-mail addresses, never #hashtags)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from optin.privacy.detect.base import Recognizer, register
from optin.privacy.findings import Finding, Label

# a handle ends at a character that cannot be in it; a CJK character right after it
# ("@jstollさん") ends it too
_HANDLE = re.compile(
    r"(?<![\w@.+\-/])@([A-Za-z0-9_](?:[A-Za-z0-9_.]{0,38}[A-Za-z0-9_])?)"
    r"(?:(?![\w@])|(?=[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]))"
)


@register
class HandleRecognizer(Recognizer):
    """``@name`` mentions; the span includes the ``@``."""

    name = "handle"
    labels = frozenset({Label.HANDLE})

    def __init__(self, min_length: int = 2) -> None:
        self.min_length = min_length

    def find(self, text: str) -> Iterator[Finding]:
        if "@" not in text:
            return
        for m in _HANDLE.finditer(text):
            handle = m.group(1)
            if len(handle) < self.min_length or handle.isdigit():
                continue
            # "@domain.com" part of something else, or "@ 5pm"
            if text[m.end() : m.end() + 1] == "." and text[m.end() + 1 : m.end() + 2].isalpha():
                continue
            yield Finding(m.start(), m.end(), Label.HANDLE, 0.95, self.name, "@mention")
