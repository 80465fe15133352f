"""Typer (0.2x) coerces every command-line value through a pydantic ``TypeAdapter``,
built for each parameter when the command runs, even for an option left out (its value
``None`` is never coerced): the pydantic import and a schema build per parameter, ~100 ms
of start-up. :func:`install` defers Typer's coercion of a parameter to the first value it
really coerces, and gives ``str`` parameters one that returns the string as it came
(what the adapter returns for it: Typer's ``_parse_cli_str`` is ``str(value)``, then
pydantic's lax ``str`` keeps it). Any other annotation or value goes to Typer's own
coercion, so values and error messages are Typer's. On a Typer without this machinery
:func:`install` does nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_installed = False


def install() -> None:
    """Defer Typer's per-parameter coercion (once a process)."""
    global _installed
    if _installed:
        return
    _installed = True
    try:
        import typer.core as tcore
        from typer._coercion import RuntimeParam
    except ImportError:  # another Typer: its parameters are parsed as it parses them
        return
    original: Any = getattr(tcore, "build_runtime_param", None)
    if original is None:
        return

    @dataclass(frozen=True)
    class _LazyParam(RuntimeParam):  # type: ignore[misc]
        descriptor: Any = None
        _built: list[Any] = field(default_factory=list, compare=False, repr=False)

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            if type(value) is str and self._plain_str():
                return value
            if not self._built:
                self._built.append(original(self.descriptor))
            return self._built[0]._coerce_value(value, param=param, ctx=ctx)

        def _plain_str(self) -> bool:
            return self.annotation is str and getattr(self.parameter_info, "parser", 1) is None

    def build(descriptor: Any) -> Any:
        if getattr(descriptor, "file_annotation", None) is not None:
            return original(descriptor)
        try:
            return _LazyParam(
                parameter_info=descriptor.parameter_info,
                annotation=descriptor.annotation,
                descriptor=descriptor,
            )
        except Exception:  # a Typer whose RuntimeParam differs: parse its own way
            return original(descriptor)

    tcore.build_runtime_param = build
