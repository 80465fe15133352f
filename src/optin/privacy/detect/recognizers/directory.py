"""The platform directory recognizer (members' names, handles, profile URLs)."""

from __future__ import annotations

from collections.abc import Iterator

from optin.privacy.detect.base import Recognizer, register
from optin.privacy.detect.directory import Directory
from optin.privacy.findings import Finding, Label


@register
class DirectoryRecognizer(Recognizer):
    """Every mention of a platform member, exactly (score 1.0, so it wins overlaps)."""

    name = "directory"
    labels = frozenset({Label.PERSON, Label.HANDLE, Label.URL})

    def __init__(self, directory: Directory | None = None) -> None:
        self.directory = directory

    def find(self, text: str) -> Iterator[Finding]:
        if self.directory is None:
            return iter(())
        return self.directory.find(text, self.name)
