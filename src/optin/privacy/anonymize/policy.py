"""What to redact and how: which labels, which operator per label, the key, the drop rule."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from optin.errors import ConfigError
from optin.privacy.anonymize.base import Operator, get_operator
from optin.privacy.findings import Finding, Label

#: Default record-drop threshold: a record whose redacted non-space characters exceed
#: this share of all its non-space characters is dropped whole (it is mostly personal data).
DEFAULT_DROP_DENSITY = 0.25

MIN_TAG_HEX, MAX_TAG_HEX = 2, 64


@dataclass(frozen=True, slots=True)
class Policy:
    """An anonymization policy.

    ``operator`` applies to every selected finding unless ``per_label`` names another
    for its label. ``labels`` selects which labels are redacted (``None``: every finding
    passed in); ``select`` is an optional finer predicate (e.g. a profile's rule that a
    street-address LOCATION is redacted but a city is not). ``drop_density`` and
    ``min_real_words`` are the record-drop rule (:func:`.engine.drop_reason`; ``None``
    turns each off). ``avoid`` is an optional predicate a realistic fake must not
    satisfy (e.g. "names a member of the platform"); the ``surrogate`` operator redraws.
    """

    operator: str = "mask"
    per_label: Mapping[Label, str] = field(default_factory=dict)
    labels: frozenset[Label] | None = None
    key: bytes = b""
    tag_hex_len: int = 4
    drop_density: float | None = DEFAULT_DROP_DENSITY
    select: Callable[[Finding], bool] | None = None
    min_real_words: int | None = None
    avoid: Callable[[str], bool] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "per_label", MappingProxyType(dict(self.per_label)))
        for name in (self.operator, *self.per_label.values()):
            op = get_operator(name)
            if op.needs_key and not self.key:
                raise ConfigError(
                    f"operator {name!r} needs a non-empty HMAC key; pass key= (or "
                    "--key-file on the command line), or use operator 'mask'"
                )
        if not MIN_TAG_HEX <= self.tag_hex_len <= MAX_TAG_HEX:
            raise ConfigError(
                f"tag_hex_len {self.tag_hex_len} is out of range; "
                f"allowed: {MIN_TAG_HEX}..{MAX_TAG_HEX}"
            )
        if self.drop_density is not None and not 0.0 <= self.drop_density <= 1.0:
            raise ConfigError(
                f"drop_density {self.drop_density} is out of range; allowed: 0.0..1.0 or None"
            )

        if self.min_real_words is not None and self.min_real_words < 1:
            raise ConfigError(
                f"min_real_words {self.min_real_words} is out of range; allowed: >= 1 or None"
            )

    def selects(self, finding: Finding) -> bool:
        if self.labels is not None and finding.label not in self.labels:
            return False
        return self.select is None or self.select(finding)

    def operator_for(self, label: Label) -> Operator:
        return get_operator(self.per_label.get(label, self.operator))
