"""Software written by others against the documented API works on the simulator unchanged.

(a) the docs' Python sample (create, poll every 10 s, stop when done, download),
written with httpx, against the simulator on a port; (b) the official AI/ML API
SDK's ``videos.generate_with_polling``. Both run on the simulator's fake clock:
the waiting they do advances it instead of sleeping.
"""

from __future__ import annotations

import io
from typing import Any

import av
import httpx
import pytest
from aimlapi import AIMLAPI

from gen3widgets.simulator import start
from tests.fakes import FakeClock
from tests.simulator_support import PNG_URI

KEY = "sk-simulated"
# The docs' own sample input: an https image the simulator shows as a placeholder.
DOCS_IMAGE = (
    "https://upload.wikimedia.org/wikipedia/commons/thumb/6/68/"
    "Liebener_Spitze_SW.JPG/1280px-Liebener_Spitze_SW.JPG"
)
DOCS_PROMPT = (
    "A menacing evil dragon appears in a distance above the tallest mountain, then rushes "
    "toward the camera with its jaws open, revealing massive fangs. We see it's coming"
)


def _decoded(video: bytes) -> tuple[int, int, int]:
    """(width, height, frames) of an MP4 as a player decodes it."""
    with av.open(io.BytesIO(video)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        frames = sum(1 for _ in container.decode(stream))
        return stream.codec_context.width, stream.codec_context.height, frames


def _docs_sample(base: str, path: str, payload: dict[str, Any], sleep: Any) -> dict[str, Any]:
    """The docs' "full example" (``gen4_turbo.md``) with ``requests`` swapped for httpx."""

    def generate_video() -> dict[str, Any] | None:
        headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
        response = httpx.post(base + path, json=payload, headers=headers)
        if response.status_code >= 400:
            print(f"Error: {response.status_code} - {response.text}")
            return None
        data: dict[str, Any] = response.json()
        return data

    def retrieve_video(gen_id: str) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
        response = httpx.get(base + path, params={"generation_id": gen_id}, headers=headers)
        data: dict[str, Any] = response.json()
        return data

    generation_response = generate_video()
    assert generation_response is not None
    gen_id = generation_response["id"]
    for _ in range(60):  # the sample's 600 s timeout, checking every 10 s
        response_data = retrieve_video(gen_id)
        status = response_data.get("status")
        if status in ("generating", "queued", "waiting"):
            sleep(10)
        else:
            return response_data
    raise AssertionError("the sample timed out")


@pytest.mark.parametrize(
    ("path", "payload", "video_url"),
    [
        # Today's endpoint and field names, as the OpenAPI page documents them.
        (
            "/v2/video/generations",
            {
                "model": "runway/gen4_turbo",
                "prompt": DOCS_PROMPT,
                "aspect_ratio": "16:9",
                "image_url": DOCS_IMAGE,
            },
            lambda data: data["video"]["url"],
        ),
        # The full example as the page still prints it: the legacy path and its answer.
        (
            "/v2/generate/video/runway/generation",
            {
                "model": "runway/gen4_turbo",
                "prompt": DOCS_PROMPT,
                "ratio": "16:9",
                "image_url": DOCS_IMAGE,
            },
            lambda data: data["video"][0],
        ),
    ],
)
def test_the_docs_python_sample_runs_unchanged(
    clock: FakeClock, path: str, payload: dict[str, Any], video_url: Any
) -> None:
    with start(port=0, clock=clock.now, preset="realistic") as running:
        data = _docs_sample(running.url, path, payload, clock.advance)
        assert data["status"] == "completed"
        video = httpx.get(video_url(data)).content  # no key: the link is signed
        stats = running.app.stats
    assert _decoded(video) == (1280, 720, 120)
    assert stats.creates_bought == 1 and stats.downloads_with_authorization == 0
    assert 2 <= stats.gets <= 4  # a 20-30 s job checked every 10 s


def test_the_official_sdk_generates_and_downloads_a_video(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    with start(port=0, clock=clock.now, job_seconds=(2.0, 2.0)) as running:
        # The SDK's default base URL ends in /v1; it calls /v2/video/generations from the root.
        client = AIMLAPI(api_key=KEY, base_url=running.url + "/v1", max_retries=0)
        statuses: list[str] = []
        monkeypatch.setattr(client.videos, "_sleep", clock.advance)
        video = client.videos.generate_with_polling(
            model="runway/gen4_turbo",
            prompt="The camera pushes in slowly",
            extra_body={"image_url": PNG_URI},
            poll_interval=0.2,
            return_bytes=True,
            status_callback=lambda payload: statuses.append(payload["status"]),
        )
        client.close()
        stats = running.app.stats
        (job,) = running.app.jobs.values()
    assert isinstance(video, bytes)
    # The model followed the 64x36 first frame: 16:9 at gen4_turbo's 1280x720, 5 s.
    assert _decoded(video) == (1280, 720, 120)
    assert (job.params.ratio, job.params.duration, job.path) == ("16:9", 5, "universal")
    assert statuses[0] == "queued" and statuses[-1] == "completed"
    assert "generating" in statuses
    assert stats.creates_bought == 1 and stats.downloads_with_authorization == 0
