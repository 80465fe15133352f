"""The ``optin`` script: the short read commands (``optin consent show``, ``optin
eligibility``) are answered before Typer and the command modules load
(:func:`optin.cli.simple.fast_run`); every other command line, and those the fast read
cannot answer exactly, run through :func:`optin.cli.main.run`. The same output, exit
codes and error messages either way (``tests/cli/test_simple.py``).

    python -m optin.cli.entry consent show ada      # what the `optin` script runs
"""

from __future__ import annotations

import sys


def run(argv: list[str] | None = None) -> int:
    """The exit code of ``optin ARGV`` (default: this process's arguments)."""
    args = sys.argv[1:] if argv is None else argv
    from optin.cli.simple import fast_run

    try:
        code = fast_run(args)
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


__all__ = ["main", "run"]


def main() -> None:  # pragma: no cover - thin wrapper
    sys.exit(run())


if __name__ == "__main__":  # pragma: no cover
    main()
