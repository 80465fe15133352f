"""anonymize(): one pass, overlaps, selection, density and the drop rule."""

from __future__ import annotations

import pytest

from optin.privacy.anonymize import Policy, anonymize, merge_overlaps
from optin.privacy.findings import Finding, Label


def F(s: int, e: int, label: Label = Label.PERSON, score: float = 0.5, rec: str = "t") -> Finding:
    return Finding(s, e, label, score, rec)


def test_when_no_findings_then_text_unchanged() -> None:
    r = anonymize("hello world", [], Policy())
    assert (r.text, r.applied, r.dropped, r.density) == ("hello world", [], False, 0.0)


def test_when_findings_unsorted_then_output_is_correct() -> None:
    text = "a@b.io and Jane"
    r = anonymize(text, [F(11, 15), F(0, 6, Label.EMAIL)], Policy(drop_density=None))
    assert r.text == "[EMAIL] and [PERSON]"
    assert [f.start for f in r.applied] == [0, 11]


@pytest.mark.parametrize(
    ("findings", "expected"),
    [
        # nested: the longer span wins the label
        ([F(0, 10, Label.LOCATION), F(2, 5, Label.PERSON)], [(0, 10, Label.LOCATION)]),
        # partial overlap: union, label of the longest
        ([F(0, 4, Label.PERSON), F(2, 9, Label.ORG)], [(0, 9, Label.ORG)]),
        # same span: higher score wins
        ([F(0, 4, Label.PERSON, 0.4), F(0, 4, Label.HANDLE, 0.9)], [(0, 4, Label.HANDLE)]),
        # touching spans stay separate
        ([F(0, 4), F(4, 8, Label.EMAIL)], [(0, 4, Label.PERSON), (4, 8, Label.EMAIL)]),
        # chain of overlaps collapses into one
        ([F(0, 3), F(2, 6), F(5, 9)], [(0, 9, Label.PERSON)]),
    ],
)
def test_merge_overlaps_table(findings: list[Finding], expected: list[tuple]) -> None:
    got = merge_overlaps(findings)
    assert [(f.start, f.end, f.label) for f in got] == expected
    assert merge_overlaps(reversed(findings)) == got  # order-independent


def test_when_label_not_selected_then_kept_and_not_applied() -> None:
    text = "Jane works at Acme"
    fs = [F(0, 4), F(14, 18, Label.ORG)]
    r = anonymize(text, fs, Policy(labels=frozenset({Label.PERSON}), drop_density=None))
    assert r.text == "[PERSON] works at Acme"
    assert [f.label for f in r.applied] == [Label.PERSON]


def test_select_predicate_refines_labels() -> None:
    text = "at 12 Main St in Paris"
    fs = [F(3, 13, Label.LOCATION, rec="street_address"), F(17, 22, Label.LOCATION, rec="city")]
    pol = Policy(select=lambda f: f.recognizer == "street_address", drop_density=None)
    assert anonymize(text, fs, pol).text == "at [LOCATION] in Paris"


def test_density_counts_non_space_characters() -> None:
    text = "Jane Doe  hi"  # 9 non-space chars; 'Jane Doe' has 7
    r = anonymize(text, [F(0, 8)], Policy(drop_density=None))
    assert r.density == pytest.approx(7 / 9)
    assert not r.dropped


@pytest.mark.parametrize(("threshold", "dropped"), [(0.5, True), (0.8, False), (None, False)])
def test_drop_rule(threshold: float | None, dropped: bool) -> None:
    r = anonymize("Jane Doe  hi", [F(0, 8)], Policy(drop_density=threshold))
    assert r.dropped is dropped
    assert r.text == "[PERSON]  hi"


def test_when_finding_beyond_text_then_value_error() -> None:
    with pytest.raises(ValueError, match="beyond the text"):
        anonymize("short", [F(0, 10)], Policy())
