"""What a generation costs: the catalogue's pricing blocks, and credits versus dollars.

A pricing block is what ``GET /v1/models?include=pricing`` shows for a model:
``fixed`` (rates per unit), ``variants`` (one rate per parameter combination)
or ``variable`` (cannot be quoted ahead; the simulator then charges
``VARIABLE_PRICE_USD`` per generation, an amount no catalogue states).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CREDITS_PER_USD = 2_000_000
VARIABLE_PRICE_USD = 0.4
KINDS = ("fixed", "variants", "variable")
# A rate is "per `per` of these"; a second counts the output video's seconds.
_UNIT_NAMES = ("second", "video")

PricingBlock = Mapping[str, Any]

DEFAULT_PRICING: Mapping[str, PricingBlock] = {
    "gen3a_turbo": {
        "kind": "fixed",
        "currency": "USD",
        "units": [{"name": "second", "measure": "output", "price": 0.05, "per": 1}],
    },
    "runway/gen4_turbo": {
        "kind": "variants",
        "currency": "USD",
        "dimensions": ["duration"],
        "variants": [
            {"when": {"duration": 5}, "price": 0.25, "unit": "video", "per": 1},
            {"when": {"duration": 10}, "price": 0.5, "unit": "video", "per": 1},
        ],
    },
}


def _rate(price: Any, per: Any, unit: Any, duration: int) -> float:
    if unit not in _UNIT_NAMES:
        raise ValueError(f"unit must be one of {_UNIT_NAMES}, got {unit!r}")
    if isinstance(price, bool) or not isinstance(price, (int, float)) or price < 0:
        raise ValueError(f"price must be a number >= 0, got {price!r}")
    if isinstance(per, bool) or not isinstance(per, (int, float)) or per <= 0:
        raise ValueError(f"per must be a number > 0, got {per!r}")
    count = duration if unit == "second" else 1
    return float(price) * count / float(per)


def price_usd(block: PricingBlock, request: Mapping[str, Any]) -> float:
    """What one generation asked with ``request`` (e.g. ``{"duration": 5, "aspect_ratio": "16:9"}``)
    costs under ``block``, in USD. ``ValueError`` when the block cannot price it."""
    kind = block.get("kind")
    duration = int(request["duration"])
    if kind == "variable":
        return VARIABLE_PRICE_USD
    if kind == "fixed":
        units = block.get("units")
        if not isinstance(units, list) or not units:
            raise ValueError("a fixed price needs a non-empty 'units' list")
        total = sum(_rate(u.get("price"), u.get("per"), u.get("name"), duration) for u in units)
        return round(total, 9)
    if kind == "variants":
        for variant in block.get("variants") or []:
            when = variant.get("when") or {}
            if all(request.get(key) == value for key, value in when.items()):
                rate = _rate(
                    variant.get("price"), variant.get("per"), variant.get("unit"), duration
                )
                return round(rate, 9)
        raise ValueError(f"no variant matches {dict(request)}")
    raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


def credits(usd: float) -> int:
    """Dollars as the API's integer credits."""
    return round(usd * CREDITS_PER_USD)


def usd_text(usd: float) -> str:
    """Dollars as the ``x-aimlapi-usd-spent`` header writes them: ``0.250000000``."""
    return f"{usd:.9f}"
