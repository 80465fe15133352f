"""``mask``: replace with a type tag such as ``[EMAIL]``."""

from __future__ import annotations

from optin.privacy.anonymize.base import DocContext, Operator, register
from optin.privacy.findings import Finding


def mask_tag(finding: Finding) -> str:
    return f"[{finding.label}]"


@register
class Mask(Operator):
    name = "mask"

    def replace(self, value: str, finding: Finding, ctx: DocContext) -> str:
        return mask_tag(finding)
