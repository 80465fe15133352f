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
    ├── DependencyMissingError      an optional extra is not installed (names the pip line)
    └── DiskFullError               no space left on the device (or quota) while writing

The CLI maps each class to an exit code (:data:`EXIT_CODES`); the web layer maps each to
an HTTP status in one table. Messages name the input, what was wrong, what is allowed,
and how to fix it. Messages never contain member content or personal data.
"""

from __future__ import annotations

import errno
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

    def __init__(
        self,
        errors: Sequence[InputError],
        *,
        file: str | None = None,
        invalid_records: int | None = None,
        total_errors: int | None = None,
    ) -> None:
        """``errors``: the errors to show; ``invalid_records`` and ``total_errors``: how
        many records were invalid and how many errors there were in all (default: what
        ``errors`` holds), more than ``errors`` lists when the list was capped."""
        self.errors = list(errors)
        lines = {e.line for e in self.errors if e.line is not None}
        self.invalid_records = len(lines) if invalid_records is None else invalid_records
        shown = "\n".join(f"  {e}" for e in self.errors[:20])
        more = f"\n  ... and {len(self.errors) - 20} more" if len(self.errors) > 20 else ""
        self.total_errors = len(self.errors) if total_errors is None else total_errors
        what = (
            f"{self.invalid_records} invalid record(s)"
            if self.invalid_records or not self.errors
            else "the file was rejected"
        )
        listed = [e for e in self.errors if e.line is not None]
        if self.total_errors > len(listed) and listed:
            what += f" ({self.total_errors} errors; the first {len(listed)} are listed)"
        msg = f"{what}; nothing was imported:\n{shown}{more}"
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


class DiskFullError(OptinError):
    """Writing failed because the device is full (ENOSPC) or a quota is exceeded (EDQUOT).

    Raised by writers that leave nothing behind: the message says what was being written
    and that nothing was written."""

    ERRNOS = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})

    def __init__(self, what: str, *, path: str | None = None) -> None:
        where = f" ({path})" if path else ""
        super().__init__(
            f"no space left on device while writing {what}{where}; nothing was written. "
            "Free some space (or raise the quota) and run the command again."
        )
        self.path = path

    @classmethod
    def unmapped(cls, exc: BaseException) -> DiskFullError:
        """For a full-disk error that reached the top unmapped: what it was and that the
        command stopped (files it was writing may be incomplete; a rerun resumes)."""
        err = cls.__new__(cls)
        OptinError.__init__(
            err,
            f"no space left on device ({type(exc).__name__}: {exc}); the command stopped. "
            "Free some space (or raise the quota) and run it again.",
        )
        err.path = getattr(exc, "filename", None)
        return err

    @classmethod
    def matches(cls, exc: BaseException) -> bool:
        """Whether ``exc`` (or an exception it was raised from) is a full-disk error."""
        seen: set[int] = set()
        cur: BaseException | None = exc
        while cur is not None and id(cur) not in seen:
            seen.add(id(cur))
            if isinstance(cur, OSError) and cur.errno in cls.ERRNOS:
                return True
            text = str(cur).lower()
            if "database or disk is full" in text or "no space left on device" in text:
                return True  # SQLite (SQLITE_FULL), pyarrow and Dask wrap the errno away
            cur = cur.__cause__ or cur.__context__
        return False


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
    DiskFullError: 74,  # EX_IOERR
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
    "DiskFullError",
    "ImportValidationError",
    "InputError",
    "IntegrityError",
    "NotFoundError",
    "OptinError",
    "PermissionDeniedError",
    "exit_code_for",
]
