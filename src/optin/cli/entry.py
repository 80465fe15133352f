"""The ``optin`` script: the short read commands (``optin consent show``, ``optin
eligibility``) are answered before Typer and the command modules load
(:func:`optin.cli.simple.answer`); every other command line, and those the fast read
cannot answer exactly, run through :func:`optin.cli.main.run`. The same output, exit
codes and error messages either way (``tests/cli/test_simple.py``). This module reads
the command line with the standard library alone, so a command line it does not take
costs nothing more than before.

    python -m optin.cli.entry consent show ada      # what the `optin` script runs
"""

from __future__ import annotations

import sys
from typing import NamedTuple


class SimpleLine(NamedTuple):
    """A command line of one of the forms :mod:`optin.cli.simple` answers."""

    root: dict[str, str | None]  # "home", "verbose"
    member: str
    options: dict[str, str | None]  # "at", "json", "purpose" (eligibility)


#: option spelling -> (its key: one per option, whether it takes a value)
_ROOT_OPTIONS = {
    "--home": ("home", True),
    "-v": ("verbose", False),
    "--verbose": ("verbose", False),
}
_COMMAND_OPTIONS = {
    ("consent", "show"): {"--at": ("at", True), "--json": ("json", False)},
    ("eligibility",): {
        "--at": ("at", True),
        "--json": ("json", False),
        "--purpose": ("purpose", True),
    },
}


def _options(
    tokens: list[str], known: dict[str, tuple[str, bool]], *, positional: bool
) -> tuple[dict[str, str | None], list[str], int] | None:
    """The options (``--opt VALUE``, ``--opt=VALUE``, flags; by key) and positional values
    of ``tokens``, up to the first positional value (``positional=False``: the root
    options) or to the end, and where they end; None for anything that is not plainly
    one of ``known``, given once, with a value that does not start with ``-``."""
    found: dict[str, str | None] = {}
    args: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        i += 1
        if not tok.startswith("-"):
            if not positional:
                return found, args, i - 1
            args.append(tok)
            continue
        name, eq, value = tok.partition("=")
        if name not in known or known[name][0] in found:
            return None
        key, takes = known[name]
        if not takes:
            if eq:
                return None
            found[key] = None
            continue
        if not eq:
            if i >= len(tokens):
                return None
            value = tokens[i]
            i += 1
        if not value or value.startswith("-"):
            return None
        found[key] = value
    return found, args, i


def parse_simple(argv: list[str]) -> SimpleLine | None:
    """``argv`` as a :class:`SimpleLine`, or None when it is not plainly one of the forms
    in :mod:`optin.cli.simple` (Click then reads it)."""
    root = _options(argv, _ROOT_OPTIONS, positional=False)
    if root is None:
        return None
    root_opts, _, i = root
    rest = argv[i:]
    words = next((w for w in _COMMAND_OPTIONS if tuple(rest[: len(w)]) == w), None)
    if words is None:
        return None
    parsed = _options(rest[len(words) :], _COMMAND_OPTIONS[words], positional=True)
    if parsed is None:
        return None
    opts, args, _ = parsed
    if len(args) != 1 or (words == ("eligibility",) and "purpose" not in opts):
        return None
    return SimpleLine(root_opts, args[0], opts)


def run(argv: list[str] | None = None) -> int:
    """The exit code of ``optin ARGV`` (default: this process's arguments)."""
    args = sys.argv[1:] if argv is None else argv
    line = parse_simple(args)
    if line is not None:
        from optin.cli.simple import answer

        try:
            code = answer(line)
        except (Exception, KeyboardInterrupt) as e:  # reported as the full entry reports it
            from optin.cli.main import exit_code_of

            reported = exit_code_of(e)
            if reported is None:
                raise
            return reported
        if code is not None:
            return code
    from optin.cli.main import run as full_run

    return full_run(args)


__all__ = ["SimpleLine", "main", "parse_simple", "run"]


def main() -> None:  # pragma: no cover - thin wrapper
    sys.exit(run())


if __name__ == "__main__":  # pragma: no cover
    main()
