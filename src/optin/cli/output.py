"""Printing data through Rich safely: the one place the CLI escapes what it shows.

Rich parses ``[...]`` in every string it prints as markup, so a member id, purpose id,
policy title or error message containing ``[/x]`` or ``[bold red]`` would either crash
the print (``MarkupError``) or be silently reformatted. The rules:

* Text *we* write may carry markup (``"[bold]policy v2[/]"``); every value that comes
  from data, arguments or an error message is passed through :func:`esc` first.
* Tables are built with :class:`Table`: its plain-string title, headers and cells are
  shown literally (as :class:`rich.text.Text`), so no cell needs escaping. A cell that
  should be styled is given as :func:`styled` text.
"""

from __future__ import annotations

from typing import Any

from rich import table as _rich_table
from rich.markup import escape
from rich.text import Text


def esc(value: object) -> str:
    """``value`` as text that Rich prints literally (markup brackets escaped)."""
    return escape(str(value))


def styled(text: object, style: str) -> Text:
    """``text`` shown literally, in ``style`` (e.g. ``"green"``, ``"bold red"``)."""
    return Text(str(text), style=style)


def literal(value: Any) -> Any:
    """A plain string as literal :class:`~rich.text.Text`; other renderables unchanged."""
    return Text(value) if isinstance(value, str) else value


class Table(_rich_table.Table):
    """A :class:`rich.table.Table` whose plain-string title, headers and cells are shown
    literally (never parsed as markup)."""

    def __init__(self, *headers: Any, title: Any = None, **kwargs: Any) -> None:
        super().__init__(*headers, title=literal(title), **kwargs)

    def add_column(self, header: Any = "", *args: Any, **kwargs: Any) -> None:
        super().add_column(literal(header), *args, **kwargs)

    def add_row(self, *renderables: Any, **kwargs: Any) -> None:
        super().add_row(*(literal(r) for r in renderables), **kwargs)


__all__ = ["Table", "esc", "literal", "styled"]
