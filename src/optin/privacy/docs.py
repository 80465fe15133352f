"""Render the privacy reference (docs/privacy.md) from the registries themselves.

Every recognizer registered by optin (name, labels, what it finds and validates, from
its module docstring), every anonymization operator and every profile (what it runs, redacts and
keeps). ``python3 dev.py docs`` rewrites docs/privacy.md; a test fails when the file is
out of date or a registered name is missing from it.
"""

from __future__ import annotations

import importlib
import inspect

from optin.privacy.findings import Label

_RECOGNIZERS_PKG = "optin.privacy.detect.recognizers"


def _paragraphs(doc: str | None) -> list[str]:
    return [p.strip() for p in inspect.cleandoc(doc or "").split("\n\n") if p.strip()]


def _one_line(text: str) -> str:
    """A paragraph as one Markdown line (reST ``code`` and roles made Markdown)."""
    line = " ".join(text.split()).replace("``", "`")
    for role in (":mod:", ":class:", ":func:", ":meth:", ":data:"):
        line = line.replace(role, "")
    return line


def _bullets(para: str) -> list[str]:
    return ["* " + _one_line(item) for item in para[2:].split("\n* ")]


def _summary(doc: str | None, *, paragraphs: int = 2) -> list[str]:
    """Up to ``paragraphs`` leading paragraphs of a docstring (one line each), then
    the bullet list that follows them, if any; code blocks are left out."""
    out: list[str] = []
    for para in _paragraphs(doc):
        if para.startswith("* "):
            out += ["", *_bullets(para)]
            break
        if len(out) >= paragraphs * 2 or para.endswith("::") or para.startswith(" "):
            break
        out += ["", _one_line(para)]
    return out[1:] or ["(undocumented)"]


def _module_doc(cls: type) -> str | None:
    """The docstring of the module that defines ``cls``; for a built-in recognizer
    split into a package, the package's."""
    name = cls.__module__
    if name.startswith(_RECOGNIZERS_PKG + "."):
        name = ".".join(name.split(".")[:5])
    return importlib.import_module(name).__doc__


def _shipped(cls: type) -> bool:
    """Whether ``cls`` ships with optin (a third party's registrations, tests' included,
    are theirs to document)."""
    return cls.__module__.split(".")[0] == "optin"


def _recognizers() -> list[str]:
    from optin.privacy.detect.base import get_recognizer_class, recognizer_names

    lines = ["## Recognizers", ""]
    for name in recognizer_names():
        cls = get_recognizer_class(name)
        if not _shipped(cls):
            continue
        labels = ", ".join(f"`{label}`" for label in sorted(cls.labels))
        lines += [f"### `{name}`", "", f"Labels: {labels or '(any)'}."]
        if cls.aliases:
            aliases = ", ".join(f"`{a}`" for a in sorted(cls.aliases))
            lines[-1] += f" Findings may also name {aliases} as their recognizer."
        if cls.needs_digit:
            lines[-1] += " Runs only on texts that hold a digit."
        lines += ["", *_summary(_module_doc(cls)), ""]
    return lines


def _operators() -> list[str]:
    from optin.privacy.anonymize import get_operator, operator_names

    lines = ["## Operators", "", "| operator | needs a key | replaces a finding with |"]
    lines.append("|---|---|---|")
    for name in operator_names():
        op = get_operator(name)
        if not _shipped(type(op)):
            continue
        text = _summary(_module_doc(type(op)), paragraphs=1)[0]
        prefix = f"`{name}`: "
        text = text[len(prefix) :] if text.startswith(prefix) else text
        lines.append(f"| `{name}` | {'yes' if op.needs_key else 'no'} | {text} |")
    return [*lines, ""]


def _drop_rule() -> list[str]:
    from optin.privacy.anonymize import engine

    lines = ["## Record-drop rule", ""]
    for fn in (engine.drop_reason, engine.count_words):
        lines += [_one_line(p) for p in _paragraphs(fn.__doc__)[:1]]
        lines.append("")
    lines += [
        "Only records with at least one redacted finding are judged; the drop decision is "
        "made on the original text and its findings, so it is the same for every operator. "
        "A snapshot build drops with `min_real_words` 3 and no density threshold by default "
        "(`optin snapshot build --min-real-words K --drop-density X`); `optin redact` keeps "
        "its `--drop-density` (default 0.25).",
        "",
    ]
    return lines


def _profiles() -> list[str]:
    from optin.privacy.profiles import PROFILES

    lines = ["## Profiles", ""]
    for name, p in PROFILES.items():
        redacted = ", ".join(f"`{label}`" for label in sorted(p.redact_labels))
        kept = ", ".join(f"`{label}`" for label in sorted(set(Label) - p.redact_labels))
        by_rec = ", ".join(f"`{r}`" for r in sorted(p.redact_recognizers))
        runs = ", ".join(f"`{r}`" for r in p.recognizers)
        lines += [f"### `{name}`", "", f"{p.description[:1].upper()}{p.description[1:]}.", ""]
        lines += [
            f"* runs: {runs} (and `directory` when a member directory is given);",
            f"* redacts every finding labelled {redacted};",
        ]
        if by_rec:
            lines.append(f"* redacts whatever the label every finding of {by_rec};")
        lines += [
            f"* keeps everything else: {kept or '(nothing)'};",
            f"* ignores findings scored below {p.min_score:g}.",
            "",
        ]
    return lines


def render_privacy_markdown() -> str:
    lines = [
        "# optin privacy reference",
        "",
        "Generated from the registries by `python3 dev.py docs`; a test keeps it in step.",
        "Detection (recognizers) and anonymization (operators) meet only in a finding",
        "(`start`, `end`, `label`, `score`, `recognizer`); a profile says which",
        "recognizers run and which findings are redacted.",
        "",
        *_profiles(),
        *_operators(),
        *_drop_rule(),
        *_recognizers(),
    ]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines) + "\n"


__all__ = ["render_privacy_markdown"]
