"""The AI/ML API documentation's Python sample for Runway video, with httpx instead of requests.

As in the docs (``docs/api-references/video-models/runway/gen4_turbo.md``, the
universal path ``/v2/video/generations``): one blocking POST, then a GET;
while the status is ``generating``, ``queued`` or ``waiting``, sleep 10 s and
GET again; stop on anything else or after 600 s. ``time_scale`` shrinks the sleep, for the benchmark's ``--smoke`` run only.

Run alone: ``python benchmarks/baselines/docs_loop.py --base-url http://127.0.0.1:8000``.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import httpx

PATH = "/v2/video/generations"
POLL_SECONDS = 10.0
TIMEOUT_SECONDS = 600.0
IN_PROGRESS = ("generating", "queued", "waiting")


def generate_video(base_url: str, api_key: str, payload: dict[str, Any]) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    response = httpx.post(base_url + PATH, json=payload, headers=headers, timeout=60)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def retrieve_video(base_url: str, api_key: str, gen_id: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    response = httpx.get(
        base_url + PATH, params={"generation_id": gen_id}, headers=headers, timeout=60
    )
    result: dict[str, Any] = response.json()
    return result


def run(
    base_url: str,
    api_key: str,
    payload: dict[str, Any],
    *,
    time_scale: float = 1.0,
    timeout: float = TIMEOUT_SECONDS,
) -> dict[str, Any]:
    """Buy one generation and poll it the docs' way.

    Returns ``{"id", "status", "seen_at"}``: ``seen_at`` is ``time.monotonic()``
    right after the GET that returned the final status.
    """
    gen_id = generate_video(base_url, api_key, payload)["id"]
    start_time = time.time()
    while time.time() - start_time < timeout:
        response_data = retrieve_video(base_url, api_key, gen_id)
        seen_at = time.monotonic()
        status = response_data.get("status")
        if status in IN_PROGRESS:
            time.sleep(POLL_SECONDS * time_scale)
        else:
            return {"id": gen_id, "status": status, "seen_at": seen_at}
    return {"id": gen_id, "status": "timeout", "seen_at": None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--api-key", default="bench")
    parser.add_argument("--image-url", default="https://example.com/cat.png")
    args = parser.parse_args()
    payload = {"model": "gen3a_turbo", "image_url": args.image_url, "aspect_ratio": "16:9"}
    print(run(args.base_url, args.api_key, payload))


if __name__ == "__main__":
    main()
