"""Text for messages and labels: shortened to fit, with an ellipsis."""

from __future__ import annotations


def short_text(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, the last one an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
