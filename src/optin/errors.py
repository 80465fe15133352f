"""optin's one exception tree.

::

    OptinError                      base; every error a user can cause
    ├── ConfigError                 bad settings, policy file, unknown profile/engine name
    ├── InputError                  bad input data; carries file, line, field, value, allowed
    │   └── ImportValidationError   an import was rejected whole (holds every InputError)
    ├── NotFoundError               a member, event, snapshot ... that does not exist
    ├── ConflictError               a duplicate id, a state that forbids the action
    ├── PermissionDeniedError       authenticated, but not allowed (wrong member, role, scope)
    ├── AuthenticationError         not logged in / bad credentials / bad API key
    ├── IntegrityError              tampering detected: ledger chain, manifest, shard hash
    └── DependencyMissingError      an optional extra is not installed (names the pip line)

The CLI maps each class to an exit code (:data:`EXIT_CODES`); the web layer maps each to
an HTTP status in one table. Messages name the input, what was wrong, what is allowed,
and how to fix it. Messages never contain member content or personal data.
"""

from __future__ import annotations

from collections.abc import Sequence


class OptinError(Exception):
    """Base class of every error optin raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(OptinError):
    """Invalid configuration: settings, policy file, an unknown registered name."""


class InputError(OptinError):
    """Invalid input data, located as precisely as we can."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
        value: object = None,
        allowed: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.field = field
        self.value = value
        self.allowed = allowed
        self.reason = message
        parts: list[str] = []
        loc = ""
        if file is not None:
            loc = file
        if line is not None:
            loc = f"{loc}:{line}" if loc else f"line {line}"
        if loc:
            parts.append(loc)
        if field is not None:
            parts.append(f"field '{field}'")
        prefix = ": ".join(parts)
        text = f"{prefix}: {message}" if prefix else message
        if value is not None:
            shown = repr(value)
            if len(shown) > 60:
                shown = shown[:57] + "..."
            text += f" (got {shown})"
        if allowed:
            text += f"; allowed: {allowed}"
        super().__init__(text)


class ImportValidationError(InputError):
    """An import was rejected as a whole; nothing was written."""

    def __init__(self, errors: Sequence[InputError], *, file: str | None = None) -> None:
        self.errors = list(errors)
        shown = "\n".join(f"  {e}" for e in self.errors[:20])
        more = f"\n  ... and {len(self.errors) - 20} more" if len(self.errors) > 20 else ""
        msg = f"{len(self.errors)} invalid record(s); nothing was imported:\n{shown}{more}"
        OptinError.__init__(self, msg)
        self.file = file
        self.line = self.errors[0].line if self.errors else None
        self.field = self.errors[0].field if self.errors else None
        self.value = None
        self.allowed = None
        self.reason = msg


class NotFoundError(OptinError):
    """The thing asked for does not exist."""


class ConflictError(OptinError):
    """The action conflicts with existing state (duplicate id, wrong state)."""


class PermissionDeniedError(OptinError):
    """Authenticated but not allowed."""


class AuthenticationError(OptinError):
    """Not authenticated, or credentials are wrong."""


class IntegrityError(OptinError):
    """Tampering or corruption detected (ledger chain, manifest, shard hash)."""

    def __init__(self, message: str, *, where: str | None = None) -> None:
        super().__init__(message)
        self.where = where


class DependencyMissingError(OptinError):
    """An optional dependency is missing; the message gives the install line."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"{package} is not installed; install it with: pip install 'optin[{extra}]'"
        )
        self.package = package
        self.extra = extra


#: CLI exit code per error class (most specific first).
EXIT_CODES: dict[type[OptinError], int] = {
    ImportValidationError: 65,
    InputError: 65,  # EX_DATAERR
    ConfigError: 78,  # EX_CONFIG
    NotFoundError: 66,  # EX_NOINPUT
    ConflictError: 75,
    PermissionDeniedError: 77,  # EX_NOPERM
    AuthenticationError: 77,
    IntegrityError: 3,
    DependencyMissingError: 69,  # EX_UNAVAILABLE
    OptinError: 1,
}


def exit_code_for(exc: OptinError) -> int:
    for cls in type(exc).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]  # type: ignore[index]
    return 1


__all__ = [
    "EXIT_CODES",
    "AuthenticationError",
    "ConfigError",
    "ConflictError",
    "DependencyMissingError",
    "ImportValidationError",
    "InputError",
    "IntegrityError",
    "NotFoundError",
    "OptinError",
    "PermissionDeniedError",
    "exit_code_for",
]
