"""The notebook widgets: ``GenerationPanel``, ``SeedGrid`` and their building blocks.

They use ipywidgets only and never speak HTTP: fields become a validated
``GenerationRequest``, a ``JobRunner`` runs it, and the widgets observe the
resulting ``Job``. Names load on first use, so importing this package is cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .card import GenerationCard
    from .grid import SeedGrid
    from .inputs import ImagePicker
    from .panel import GenerationPanel

_LAZY = {
    "GenerationCard": ".card",
    "GenerationPanel": ".panel",
    "ImagePicker": ".inputs",
    "SeedGrid": ".grid",
}

__all__ = ["GenerationCard", "GenerationPanel", "ImagePicker", "SeedGrid"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'gen3widgets.widgets' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
