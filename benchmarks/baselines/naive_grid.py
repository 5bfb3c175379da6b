"""A seed grid done naively: for each seed, submit and wait with the docs' loop, one after another."""

from __future__ import annotations

import time
from typing import Any

from baselines import docs_loop


def run(
    base_url: str,
    api_key: str,
    payload: dict[str, Any],
    seeds: list[int],
    *,
    time_scale: float = 1.0,
) -> dict[str, Any]:
    """Returns ``{"wall": seconds for the whole grid, "results": [docs_loop results]}``."""
    started = time.monotonic()
    results = [
        docs_loop.run(base_url, api_key, {**payload, "seed": seed}, time_scale=time_scale)
        for seed in seeds
    ]
    return {"wall": time.monotonic() - started, "results": results}
