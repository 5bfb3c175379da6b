"""Small HTML snippets for ipywidgets.HTML values.

Every piece of text that came from the user or the server (prompts, ids,
error messages, URLs, file paths) goes through ``html.escape`` here, so a
prompt like ``<img src=x onerror=alert(1)>`` shows up literally and never runs.
"""

from __future__ import annotations

import html
from collections.abc import Iterable

ERROR_COLOR = "#b00020"
MUTED_COLOR = "#666"
WARNING_COLOR = "#8a5300"


def esc(text: object) -> str:
    """``text`` as HTML-safe text (quotes escaped too, so it is safe in attributes)."""
    return html.escape(str(text), quote=True)


def span(text: object, *, color: str | None = None, bold: bool = False, small: bool = False) -> str:
    """One escaped run of text, optionally coloured, bold or small."""
    styles = []
    if color:
        styles.append(f"color:{color}")
    if bold:
        styles.append("font-weight:bold")
    if small:
        styles.append("font-size:smaller")
    style = f" style='{';'.join(styles)}'" if styles else ""
    return f"<span{style}>{esc(text)}</span>"


def lines(items: Iterable[str], *, color: str | None = None) -> str:
    """Escaped lines of text, one per row, kept with their line breaks."""
    body = "<br>".join(esc(item) for item in items)
    style = "white-space:pre-wrap" + (f";color:{color}" if color else "")
    return f"<div style='{style}'>{body}</div>" if body else ""


def banner(text: str) -> str:
    """A notice strip above a widget (the offline simulator's), in the theme's warning colours."""
    return (
        "<div style='background:var(--jp-warn-color3, #fff4ce);color:var(--jp-ui-font-color1, "
        "inherit);border:1px solid var(--jp-warn-color1, #e0c060);padding:6px 10px;"
        f"border-radius:4px'>{esc(text)}</div>"
    )
