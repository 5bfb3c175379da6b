"""The image-to-video models the simulator serves: names, ratios, output sizes, durations.

The simulator's own registry, written from the API contract, never the
client's: an examiner that shared the candidate's table would pass the
candidate's typos.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

# Runway's rule when the ratio is taken from the first frame: width/height within these.
MIN_IMAGE_ASPECT = 0.5
MAX_IMAGE_ASPECT = 2.0


@dataclass(frozen=True)
class VideoModel:
    """One model: what a create may ask of it and the frame size each ratio gives."""

    id: str
    """The catalogue id, e.g. ``"runway/gen4_turbo"``."""
    aliases: tuple[str, ...]
    """Other names the model answers to (the catalogue lists them too)."""
    sizes: Mapping[str, tuple[int, int]]
    """Output (width, height) per aspect ratio, in the documented order."""
    name: str
    """Human-readable name, for the catalogue."""
    durations: tuple[int, ...] = (5, 10)
    default_duration: int = 5
    default_ratio: str = "16:9"

    @property
    def ratios(self) -> tuple[str, ...]:
        return tuple(self.sizes)

    @property
    def names(self) -> tuple[str, ...]:
        """Every name a request may use for this model: its id, then its aliases."""
        return (self.id, *self.aliases)

    def output_size(self, ratio: str) -> tuple[int, int]:
        """The video's (width, height) at ``ratio``; ``ValueError`` for a ratio it lacks."""
        try:
            return self.sizes[ratio]
        except KeyError:
            raise ValueError(
                f"{self.id} has no ratio {ratio!r}; its ratios are {', '.join(self.ratios)}"
            ) from None

    def closest_ratio(self, width: int, height: int) -> str:
        """The allowed ratio nearest to an image's (displayed) shape.

        Distances are compared on a log scale, so 2:1 and 1:2 are equally far
        from 1:1; a tie goes to the ratio listed first (``16:9`` for a square
        image on gen3a_turbo).
        """
        aspect = math.log(width / height)
        return min(
            self.ratios,
            key=lambda ratio: abs(math.log(self.sizes[ratio][0] / self.sizes[ratio][1]) - aspect),
        )


GEN3A_TURBO = VideoModel(
    id="gen3a_turbo",
    aliases=("runway/gen3a_turbo",),
    sizes={"16:9": (1280, 768), "9:16": (768, 1280)},
    name="Runway Gen-3 Alpha Turbo",
)
GEN4_TURBO = VideoModel(
    id="runway/gen4_turbo",
    aliases=("gen4_turbo",),
    sizes={
        "16:9": (1280, 720),
        "9:16": (720, 1280),
        "4:3": (1104, 832),
        "3:4": (832, 1104),
        "1:1": (960, 960),
        "21:9": (1584, 672),
    },
    name="Runway Gen-4 Turbo",
)
MODELS: tuple[VideoModel, ...] = (GEN3A_TURBO, GEN4_TURBO)
_BY_NAME = {name: model for model in MODELS for name in model.names}


def find_model(name: object) -> VideoModel | None:
    """The model called ``name`` (its id or an alias), or None."""
    return _BY_NAME.get(name) if isinstance(name, str) else None


def model_named(name: str) -> VideoModel:
    """Like ``find_model`` for names that must exist; ``ValueError`` names the choices."""
    model = find_model(name)
    if model is None:
        known = ", ".join(repr(n) for n in _BY_NAME)
        raise ValueError(f"unknown model {name!r}; the simulator serves {known}")
    return model
