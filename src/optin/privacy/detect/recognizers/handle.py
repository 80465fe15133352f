"""@handles (never e-mail addresses, never #hashtags)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from optin.privacy.detect.base import Recognizer, register
from optin.privacy.findings import Finding, Label

# a handle ends at a character that cannot be in it; a CJK character right after it
# ("@jstollさん") ends it too
# (the look-behind comes after the "@" it guards, "@(?<!x@)" for "(?<!x)@": a pattern
# that starts with a literal is searched for that character at C speed instead of
# being tried at every position of the text)
_HANDLE = re.compile(
    r"@(?<![\w@.+\-/]@)([A-Za-z0-9_](?:[A-Za-z0-9_.]{0,38}[A-Za-z0-9_])?)"
    r"(?:(?![\w@])|(?=[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]))"
)


# other networks' forms: "@jane@mastodon.social" (fediverse, the whole address),
# "u/jane_doe" (Reddit), "jane#1234" (Discord, after a Discord cue)
_FEDIVERSE = re.compile(
    r"@(?<![\w@.+\-/]@)[A-Za-z0-9_](?:[A-Za-z0-9_.\-]{0,62}[A-Za-z0-9_])?"
    r"@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)+"
    r"(?![\w\-]|\.\w)"
)
_REDDIT = re.compile(r"(?<![\w/.\-])/?u/[A-Za-z0-9_\-]{3,20}(?![\w\-/])")
_DISCORD = re.compile(r"(?<![\w#@.])[A-Za-z0-9_.]{2,32}#\d{4}(?!\w)")
_DISCORD_CUE = re.compile(r"(?i)discord")


@register
class HandleRecognizer(Recognizer):
    """``@name`` mentions; the span includes the ``@``."""

    name = "handle"
    labels = frozenset({Label.HANDLE})

    def __init__(self, min_length: int = 2) -> None:
        self.min_length = min_length

    def find(self, text: str) -> Iterator[Finding]:
        if "u/" in text:
            for m in _REDDIT.finditer(text):
                yield Finding(m.start(), m.end(), Label.HANDLE, 0.9, self.name, "Reddit user")
        if "#" in text and _DISCORD_CUE.search(text):
            for m in _DISCORD.finditer(text):
                yield Finding(m.start(), m.end(), Label.HANDLE, 0.9, self.name, "Discord tag")
        if "@" not in text:
            return
        if text.count("@") >= 2:
            for m in _FEDIVERSE.finditer(text):
                # outranks the e-mail address inside it (same score, longer span)
                yield Finding(m.start(), m.end(), Label.HANDLE, 1.0, self.name, "fediverse handle")
        for m in _HANDLE.finditer(text):
            handle = m.group(1)
            if len(handle) < self.min_length or handle.isdigit():
                continue
            # "@domain.com" part of something else, or "@ 5pm"
            if text[m.end() : m.end() + 1] == "." and text[m.end() + 1 : m.end() + 2].isalpha():
                continue
            yield Finding(m.start(), m.end(), Label.HANDLE, 0.95, self.name, "@mention")
