"""Pipeline steps: small functions over Arrow tables that count why they drop rows.

Each step returns the kept rows and a :class:`Counts` of drops by reason; none opens a
connection or a file, so every engine runs the same code.
"""

from __future__ import annotations

from collections import Counter

Counts = Counter[str]

__all__ = ["Counts"]
