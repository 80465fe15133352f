"""Every ``Settings`` field is read somewhere in ``src/optin`` and documented in the
README's configuration table (as its ``OPTIN_*`` variable)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from optin.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "optin"


def _configuration_table() -> str:
    text = (ROOT / "README.md").read_text("utf-8")
    start = text.index("## Configuration")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


FIELDS = sorted(Settings.model_fields)


@pytest.mark.parametrize("name", FIELDS)
def test_every_setting_is_read_in_src(name: str) -> None:
    use = re.compile(rf"\.{name}\b")
    readers = [p.relative_to(SRC) for p in SRC.rglob("*.py") if use.search(p.read_text("utf-8"))]
    assert readers, f"Settings.{name} is never read in src/optin; use it or remove it"


@pytest.mark.parametrize("name", FIELDS)
def test_every_setting_is_in_the_readme_configuration_table(name: str) -> None:
    env = f"OPTIN_{name.upper()}"
    rows = [line for line in _configuration_table().splitlines() if line.startswith("|")]
    assert any(f"`{env}`" in row for row in rows), f"{env} is missing from README's table"


def test_readme_table_names_no_setting_that_does_not_exist() -> None:
    named = set(re.findall(r"`OPTIN_([A-Z_]+)`", _configuration_table()))
    assert named <= {n.upper() for n in FIELDS}
