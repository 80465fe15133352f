"""``pseudonym``: a consistent keyed tag such as ``<PERSON_3f2a>``.

The tag is the first ``tag_hex_len`` hex digits of HMAC-SHA256(key, label, entity) where
the entity is the normalised mention (see :mod:`.normalize`); the same person gets the
same tag everywhere under one snapshot key and an unrelated tag under another key.
Collisions between different entities are possible with short tags and harmless.
"""

from __future__ import annotations

from optin.privacy.anonymize.base import DocContext, Operator, register
from optin.privacy.findings import Finding


@register
class Pseudonym(Operator):
    name = "pseudonym"
    needs_key = True

    def replace(self, value: str, finding: Finding, ctx: DocContext) -> str:
        digest = ctx.digest(value, finding.label).hex()
        return f"<{finding.label}_{digest[: ctx.tag_hex_len]}>"
