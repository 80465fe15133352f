"""URLs and bare domains; personal profile pages are told apart from site home pages.

Every URL is a :class:`Label.URL` finding. A URL that points at one person (a profile
page such as ``linkedin.com/in/<name>``, ``github.com/<user>``, ``x.com/<user>``,
``instagram.com/<user>``, ``.../@user``, ``.../u/<user>``, ``.../in/<handle>``) is emitted
with recognizer name ``profile_url``; other URLs with ``url``. Profiles redact
``profile_url`` findings by default and other URLs only in ``strict``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from optin.privacy.detect.base import Recognizer, register
from optin.privacy.detect.scan import lower, windows_around
from optin.privacy.findings import Finding, Label

_TLDS = (
    "com|org|net|edu|gov|mil|int|info|biz|io|co|ai|app|dev|me|tv|ly|social|online|site|xyz|"
    "uk|de|fr|es|it|nl|be|ch|at|se|no|fi|dk|is|ie|pt|pl|cz|sk|hu|ro|bg|gr|ru|ua|tr|il|in|pk|"
    "cn|jp|kr|tw|hk|sg|my|ph|id|th|vn|au|nz|ca|us|mx|br|ar|cl|uy|pe|za|ng|ke|eg|cy|lu|ee|lv|lt"
)
_URL = re.compile(
    r"(?i)(?<![\w@.\-])(?:(?:https?|ftp)://[^\s<>\"'`]+|www\.[a-z0-9\-]+(?:\.[a-z0-9\-]+)+[^\s<>\"'`]*"
    rf"|[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?)*\.(?:{_TLDS})"
    r"(?![\w@\-])(?:/[^\s<>\"'`]*)?)"
)
_HINT = re.compile(rf"://|www\.|\.(?=[a-z])(?:{_TLDS})(?![a-z0-9_@\-])")
_TRAIL = ".,;:!?)]}'\"»”’"
_SOCIAL = re.compile(
    r"(?i)^(?:[a-z]+://)?(?:www\.|m\.|mobile\.)?(?:"
    r"(?:[a-z]{2,3}\.)?linkedin\.com/(?:in|pub)/[^/?#\s]+"
    r"|(?:twitter|x|github|gitlab|instagram|facebook|fb|threads\.net|tiktok|pinterest|"
    r"medium|behance|dribbble|soundcloud|twitch|vimeo|flickr|keybase|about\.me|"
    r"linktr\.ee|substack)(?:\.com|\.tv|\.ee|\.me)?/(?!(?:home|about|explore|search|"
    r"login|signup|settings|pricing|features|help|blog|careers|jobs|company|legal|privacy|"
    r"terms|topics|trending|hashtag|i|intent|share|sharer|watch|p|reel|orgs)(?:[/?#]|$))"
    r"@?[A-Za-z0-9_.\-]+/?(?:[?#].*)?$"
    r"|[^/\s]+/(?:@|~|u/|user/|users/|in/|profile/|people/|members?/)[^/?#\s]+"
    r"|[^/\s]+\.(?:tumblr\.com|substack\.com|github\.io|wordpress\.com|blogspot\.com)"
    r")"
)


@register
class UrlRecognizer(Recognizer):
    """Web addresses; ``profile_url`` for pages of one person, ``url`` otherwise."""

    name = "url"
    labels = frozenset({Label.URL})

    def __init__(self, bare_domains: bool = True) -> None:
        self.bare_domains = bare_domains

    def find(self, text: str) -> Iterator[Finding]:
        if "." not in text:
            return
        # a URL holds no whitespace: scan only the words that hold a scheme, "www." or a TLD
        low = lower(text)
        # every hint holds a "." (at most 3 characters on) or starts at "://": skip the
        # characters before the earliest place one can start
        start = max(0, low.find(".") - 3)
        scheme = low.find("://", 0, start + 2)
        if 0 <= scheme < start:
            start = scheme
        hints = [m.start() for m in _HINT.finditer(low, start)]
        for lo, hi in windows_around(text, hints, 0, 0):
            yield from self._window(text, lo, hi)

    def _window(self, text: str, lo: int, hi: int) -> Iterator[Finding]:
        for m in _URL.finditer(text, lo, hi):
            start, end = m.start(), m.end()
            while end > start and text[end - 1] in _TRAIL:
                # keep a closing paren that belongs to the URL
                if text[end - 1] == ")" and "(" in text[start : end - 1]:
                    break
                end -= 1
            cand = text[start:end]
            lower = cand.lower()
            explicit = lower.startswith(("http://", "https://", "ftp://", "www."))
            if not explicit:
                if not self.bare_domains or "." not in cand:
                    continue
                host = lower.split("/", 1)[0]
                labels = host.split(".")
                # "e.g", "i.e", file names like "report.pdf" are excluded by the TLD list;
                # require a plausible host label
                if len(labels[-2]) < 2 or labels[-2].isdigit():
                    continue
            if _SOCIAL.match(cand):
                yield Finding(start, end, Label.URL, 0.95, "profile_url", "personal profile URL")
            else:
                yield Finding(start, end, Label.URL, 0.9 if explicit else 0.7, self.name, "URL")
