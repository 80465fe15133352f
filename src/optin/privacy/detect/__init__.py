"""Personal-data detection: a registry of recognizers and an analyzer.

Detection never imports anonymization; both share only :mod:`optin.privacy.findings`.
"""

from optin.privacy.detect.analyzer import Analyzer, resolve_overlaps
from optin.privacy.detect.base import (
    Recognizer,
    create,
    get_recognizer_class,
    recognizer_names,
    register,
)
from optin.privacy.detect.directory import (
    Directory,
    DirectoryEntry,
    ErasedNames,
    erasure_marker,
    keyed_hash,
)
from optin.privacy.detect.directory_compiled import compile_directory, compile_directory_job

__all__ = [
    "Analyzer",
    "Directory",
    "DirectoryEntry",
    "ErasedNames",
    "Recognizer",
    "compile_directory",
    "compile_directory_job",
    "create",
    "erasure_marker",
    "get_recognizer_class",
    "keyed_hash",
    "recognizer_names",
    "register",
    "resolve_overlaps",
]
