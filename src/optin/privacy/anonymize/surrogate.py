"""``surrogate``: a realistic fake value of the same type, deterministic per entity.

See :mod:`.fakes` for the per-label generators and why a fake is never a real
identifier. Values already in a reserved range (``example.com``, 555-01xx, TEST-NET)
are kept (they are not personal data), so re-redacting surrogate output leaves those
unchanged; every other fake differs from the original value and from whatever the
policy's ``avoid`` names (a platform member), else the type tag is used. The fake of
an entity is the same everywhere in a record (the keyed digest of its normalised form,
surnames aliased to the full name, and of the record's text) and, by design, another
one in another record: fakes do not link one person's records across a snapshot.
"""

from __future__ import annotations

from optin.privacy.anonymize.base import DocContext, Operator, register
from optin.privacy.anonymize.fakes import fake, is_reserved
from optin.privacy.anonymize.normalize import normalize
from optin.privacy.findings import Finding, Label


@register
class Surrogate(Operator):
    name = "surrogate"
    needs_key = True

    def replace(self, value: str, finding: Finding, ctx: DocContext) -> str:
        if is_reserved(value, finding.label):
            return value
        surname_only = finding.label is Label.PERSON and ctx.entity(
            value, finding.label
        ) != normalize(value, finding.label)
        return fake(
            value,
            finding.label,
            ctx.digest(value, finding.label, per_record=True),
            surname_only=surname_only,
            avoid=ctx.avoid,
        )
