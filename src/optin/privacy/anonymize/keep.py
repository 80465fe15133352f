"""``keep``: leave the characters as they are (detect-and-report only)."""

from __future__ import annotations

from optin.privacy.anonymize.base import DocContext, Operator, register
from optin.privacy.findings import Finding


@register
class Keep(Operator):
    name = "keep"

    def replace(self, value: str, finding: Finding, ctx: DocContext) -> str:
        return value
