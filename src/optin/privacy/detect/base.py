"""Recognizer base class and registry.

A recognizer is a small class with a ``name``, the ``labels`` it can emit, typed keyword
parameters, and ``find(text)``. Built-ins register with :func:`register` exactly as a
third-party recognizer would::

    @register
    class TicketRecognizer(Recognizer):
        name = "ticket"
        labels = frozenset({Label.OTHER})

        def find(self, text: str) -> Iterable[Finding]:
            ...

    create("ticket")  # -> TicketRecognizer()
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar, TypeVar

from optin.errors import ConfigError
from optin.privacy.findings import Finding, Label

R = TypeVar("R", bound="type[Recognizer]")

_REGISTRY: dict[str, type[Recognizer]] = {}


class Recognizer:
    """Finds one or a few kinds of personal data in a text.

    Subclasses set ``name`` (unique registry key) and ``labels``; parameters are keyword
    arguments of ``__init__`` with defaults, so ``create(name)`` always works.
    ``find`` must be pure and deterministic and return spans on the original text.
    ``needs_digit = True`` lets the analyzer skip the recognizer on texts with no digit;
    ``exact_labels`` (with ``aliases``) lets it skip the recognizer when redacting texts
    that hold nothing to redact.
    """

    name: ClassVar[str] = ""
    labels: ClassVar[frozenset[Label]] = frozenset()
    #: True when every finding holds a digit: the analyzer skips texts without digits
    needs_digit: ClassVar[bool] = False
    #: recognizer names a finding may carry besides ``name`` (``"date_of_birth"``)
    aliases: ClassVar[frozenset[str]] = frozenset()
    #: True when THIS class (not a parent) guarantees that every finding has one of
    #: ``labels`` and ``name`` or one of ``aliases`` as recognizer: the analyzer may then
    #: skip it on texts where a profile could not redact anything anyway
    exact_labels: ClassVar[bool] = False
    #: the highest score of any finding of THIS class (not a parent): with
    #: ``exact_labels``, the analyzer skips the recognizer when redacting a text whose
    #: redactable candidates all score higher (its findings would rank below them all)
    max_score: ClassVar[float] = 1.0

    def find(self, text: str) -> Iterable[Finding]:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def register(cls: R) -> R:
    """Class decorator: add a recognizer class to the registry under ``cls.name``."""
    name = getattr(cls, "name", "")
    if not name or not isinstance(name, str):
        raise ConfigError(f"recognizer class {cls.__name__} has no 'name'")
    existing = _REGISTRY.get(name)
    if existing is not None and existing is not cls:
        raise ConfigError(
            f"recognizer name '{name}' is already registered by {existing.__qualname__}; "
            "choose another name"
        )
    _REGISTRY[name] = cls
    return cls


def recognizer_names() -> list[str]:
    """Sorted names of every registered recognizer."""
    _load_builtins()
    return sorted(_REGISTRY)


def get_recognizer_class(name: str) -> type[Recognizer]:
    """The registered class for ``name``; ConfigError listing valid names if unknown."""
    _load_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"unknown recognizer '{name}'; valid names: {', '.join(sorted(_REGISTRY))}"
        ) from None


def create(name: str, **params: Any) -> Recognizer:
    """Instantiate the registered recognizer ``name`` with keyword ``params``."""
    cls = get_recognizer_class(name)
    try:
        return cls(**params)
    except TypeError as exc:
        raise ConfigError(f"recognizer '{name}': bad parameters {sorted(params)}: {exc}") from None


def _load_builtins() -> None:
    # Importing the package registers every built-in recognizer module.
    import optin.privacy.detect.recognizers  # noqa: F401
