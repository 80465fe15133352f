"""IPv4 and IPv6 addresses (validated with :mod:`ipaddress`), an IPv4 port included;
version numbers excluded."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

from optin.privacy.detect.base import Recognizer, register
from optin.privacy.detect.scan import digit_runs
from optin.privacy.findings import Finding, Label

_V4 = re.compile(
    r"(?<![\w.])(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}"
    r"(?::\d{1,5}(?!\d))?"  # a port: "192.168.1.20:8080" is masked whole
    r"(?![\w]|\.\d)"
)
_V6 = re.compile(
    r"(?i)(?<![\w:.])(?:[0-9a-f]{0,4}:){2,7}(?:[0-9a-f]{0,4}|\d+\.\d+\.\d+\.\d+)(?![\w:])"
)
_V6_HINT = re.compile(r"[0-9a-fA-F]:[0-9a-fA-F]{1,4}:")
_VERSION = re.compile(r"(?i)(?:\bv|\bver\.?|\bversion|\brelease|\bbuild)\s*$")


@register
class IpAddressRecognizer(Recognizer):
    name = "ip_address"
    labels = frozenset({Label.IP_ADDRESS})

    def find(self, text: str) -> Iterator[Finding]:
        # an IPv4 address is one digit run with three dots ("192.168.0.1")
        for s, e, d in digit_runs(text):
            if d < 4 or text.count(".", s, e) < 3:
                continue
            for m in _V4.finditer(text, s, min(len(text), e + 8)):
                if _VERSION.search(text, max(0, m.start() - 12), m.start()):
                    continue
                yield Finding(m.start(), m.end(), Label.IP_ADDRESS, 0.95, self.name, "IPv4")
        if "::" in text or (text.count(":") >= 3 and _V6_HINT.search(text)):
            for m in _V6.finditer(text):
                cand = m.group(0)
                if cand.count(":") < 2 or sum(c.isalnum() for c in cand) < 4:
                    continue
                try:
                    ipaddress.IPv6Address(cand)
                except ValueError:
                    continue
                yield Finding(m.start(), m.end(), Label.IP_ADDRESS, 0.95, self.name, "IPv6")
