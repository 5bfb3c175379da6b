"""The notebook widgets: ``GenerationPanel``, ``SeedGrid``, ``Sequence`` and their building blocks.

They never speak HTTP: fields become a validated ``GenerationRequest``, a
``JobRunner`` runs it, and the widgets observe the resulting ``Job``. The card
and the grid are anywidgets drawn by one front end shipped in ``_front/``
(they also run in marimo); the panel's inputs are ipywidgets. Names load on
first use, so importing this package is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_names

if TYPE_CHECKING:
    from .card import GenerationCard
    from .grid import SeedGrid
    from .inputs import ImagePicker
    from .panel import GenerationPanel
    from .sequence import Sequence

_LAZY = {
    "GenerationCard": ".card",
    "GenerationPanel": ".panel",
    "ImagePicker": ".inputs",
    "SeedGrid": ".grid",
    "Sequence": ".sequence",
}

__all__ = ["GenerationCard", "GenerationPanel", "ImagePicker", "SeedGrid", "Sequence"]


__getattr__, __dir__ = lazy_names(__name__, globals(), _LAZY)
