"""Text for messages and labels: shortened to fit, with an ellipsis; paths as a person reads them."""

from __future__ import annotations

import os
from pathlib import Path


def short_text(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, the last one an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def shown_path(path: str | os.PathLike[str]) -> str:
    """``path`` as a message shows it: relative to the working folder (a notebook's own
    folder in a kernel) when inside it, else under ``~`` when in the home folder, else whole.
    """
    target = Path(path).absolute()
    for base, prefix in ((Path.cwd(), ""), (Path.home(), "~" + os.sep)):
        try:
            return prefix + str(target.relative_to(base.absolute()))
        except ValueError:
            continue
    return str(target)
