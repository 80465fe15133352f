"""docs/privacy.md is generated from the registries and in step with them."""

from __future__ import annotations

from pathlib import Path

import pytest

from optin.privacy.anonymize import operator_names
from optin.privacy.detect.base import recognizer_names
from optin.privacy.docs import render_privacy_markdown
from optin.privacy.profiles import profile_names

DOC = Path(__file__).resolve().parents[2] / "docs" / "privacy.md"


def test_privacy_reference_is_up_to_date() -> None:
    assert DOC.exists(), "docs/privacy.md is missing: run `python3 dev.py docs`"
    assert DOC.read_text("utf-8") == render_privacy_markdown(), (
        "docs/privacy.md is out of date: run `python3 dev.py docs`"
    )


@pytest.mark.parametrize("name", recognizer_names())
def test_every_registered_recognizer_has_a_section(name: str) -> None:
    assert f"### `{name}`\n\nLabels: `" in DOC.read_text("utf-8")


@pytest.mark.parametrize("name", profile_names())
def test_every_profile_has_a_section_saying_what_it_redacts_and_keeps(name: str) -> None:
    section = DOC.read_text("utf-8").split(f"### `{name}`\n", 1)[1].split("\n### ", 1)[0]
    assert "* redacts every finding labelled" in section and "* keeps everything else" in section


@pytest.mark.parametrize("name", operator_names())
def test_every_registered_operator_has_a_row(name: str) -> None:
    assert f"\n| `{name}` | " in DOC.read_text("utf-8")


def test_recognizer_summaries_come_from_their_docstrings() -> None:
    text = render_privacy_markdown()
    assert "ISO 13616 mod-97 check" in text  # iban
    assert "Dutch BSN (11-test)" in text  # gov_id's bullet list
    assert "(undocumented)" not in text


def test_third_party_registrations_are_left_out() -> None:
    from optin.privacy.detect.base import Recognizer, register
    from optin.privacy.findings import Label

    @register
    class DocsProbe(Recognizer):
        name = "test_docs_probe"
        labels = frozenset({Label.OTHER})

    assert "test_docs_probe" not in render_privacy_markdown()
