"""Runway's SDK polling schedule (``runwayml/lib/polling.py``) applied to the AI/ML API.

``wait_for_task_output`` sleeps ``POLL_TIME + random() * POLL_JITTER - POLL_JITTER / 2``
(6 s ± 1.5 s, uniform) *before* each GET, and stops on a final status or
after 600 s. Runway's ``SUCCEEDED``/``FAILED`` become the AI/ML API's
``completed``/``error`` (``failed`` and ``cancelled`` are final too).
``time_scale`` shrinks the sleep, for the benchmark's ``--smoke`` run only.
"""

from __future__ import annotations

import random
import time
from typing import Any

from baselines.docs_loop import generate_video, retrieve_video

POLL_TIME = 6.0
POLL_JITTER = 3.0
TIMEOUT_SECONDS = 600.0
FINAL = ("completed", "error", "failed", "cancelled")


def run(
    base_url: str,
    api_key: str,
    payload: dict[str, Any],
    *,
    time_scale: float = 1.0,
    timeout: float = TIMEOUT_SECONDS,
    rng: random.Random | None = None,
) -> dict[str, Any]:
    """Buy one generation and wait for it on Runway's schedule; same result shape as ``docs_loop.run``."""
    rng = rng or random.Random()
    gen_id = generate_video(base_url, api_key, payload)["id"]
    start_time = time.time()
    while True:
        time.sleep((POLL_TIME + rng.random() * POLL_JITTER - POLL_JITTER / 2) * time_scale)
        task = retrieve_video(base_url, api_key, gen_id)
        seen_at = time.monotonic()
        if task.get("status") in FINAL:
            return {"id": gen_id, "status": task.get("status"), "seen_at": seen_at}
        if time.time() - start_time > timeout:
            return {"id": gen_id, "status": "timeout", "seen_at": None}
