"""GenerationCard: one job's view, driven by real jobs on the in-process simulator."""

from __future__ import annotations

import ipywidgets
import pytest

from gen3widgets import DownloadError, GenerationFailed, GenerationRequest
from gen3widgets._jobs import JobState
from gen3widgets.simulator import Faults
from gen3widgets.widgets.card import GenerationCard
from tests.widget_support import (
    XSS,
    CountingMock,
    Harness,
    failing_api,
    harness,
    lost_video_api,
    png_bytes,
)

__all__ = ["harness"]  # the fixture, imported for pytest


def _request(seed: int = 7, prompt: str = "a slow dolly shot") -> GenerationRequest:
    return GenerationRequest(prompt=prompt, image=png_bytes(), seed=seed)


def test_a_fresh_card_shows_nothing_yet() -> None:
    card = GenerationCard()
    assert card.job is None
    assert card.video.value == b""
    assert card.video.layout.display == "none"
    assert card.title.layout.display == "none"
    assert isinstance(card.video, ipywidgets.Video)
    assert (card.video.format, card.video.controls, card.video.loop, card.video.autoplay) == (
        "mp4",
        True,
        True,
        False,
    )


def test_title_is_text_not_html() -> None:
    card = GenerationCard(XSS)
    assert "<img" not in card.title.value
    assert "&lt;img src=x onerror=alert(1)&gt;" in card.title.value
    card.set_title("")
    assert card.title.layout.display == "none"


def test_completed_job_shows_the_downloaded_video_once_and_its_details(harness: Harness) -> None:
    sim, runner = harness.sim_runner()
    card = GenerationCard("first")
    job = runner.submit(_request(seed=1234))
    card.bind(job)
    generation = job.wait(30)

    assert job.state is JobState.COMPLETED
    assert generation.local_path is not None
    assert card.video.value == generation.local_path.read_bytes() != b""
    assert card.video.layout.display != "none"
    assert "seed 1234" in card.details.value
    assert generation.id in card.details.value
    assert f"saved to {generation.local_path}" in card.details.value
    assert "262,500 tokens" in card.details.value
    assert "completed" in card.status.value
    assert card.progress.value == 1.0 and card.progress.bar_style == "success"
    assert card.message.value == ""
    assert sim.stats.downloads == 1

    # The same video is never sent twice: binding the job again keeps the bytes object.
    sent = card.video.value
    card.bind(job)
    assert card.video.value is sent


def test_binding_another_job_stops_following_the_first(harness: Harness) -> None:
    _, runner = harness.sim_runner()
    card = GenerationCard()
    first = runner.submit(_request(seed=1))
    card.bind(first)
    first.wait(30)
    first_video = card.video.value

    second = runner.submit(_request(seed=2))
    card.bind(second)
    assert card.job is second
    second.wait(30)
    assert card.video.value != first_video
    assert second.generation is not None and second.generation.id in card.details.value


def test_failed_job_shows_a_readable_message_and_no_traceback(harness: Harness) -> None:
    _, runner = harness.sim_runner(faults=Faults(job_error=1.0))
    card = GenerationCard()
    job = runner.submit(_request())
    card.bind(job)
    with pytest.raises(GenerationFailed):
        job.wait(30)

    assert job.state is JobState.FAILED
    assert "failed" in card.status.value
    assert card.progress.bar_style == "danger"
    assert job.message and "failed" in job.message
    assert "Traceback" not in card.message.value
    assert "submit again" in card.message.value
    assert card.video.value == b""


def test_server_error_text_is_escaped(harness: Harness) -> None:
    mock = CountingMock(failing_api(XSS))
    runner = harness.runner(mock.transport)
    card = GenerationCard()
    job = runner.submit(_request())
    card.bind(job)
    with pytest.raises(GenerationFailed):
        job.wait(30)
    assert "<img" not in card.message.value
    assert "&lt;img src=x onerror=alert(1)&gt;" in card.message.value


def test_completed_without_a_file_shows_the_link_as_text(harness: Harness) -> None:
    sim = harness.simulator()
    runner = harness.runner(sim.async_transport(), download=False)
    card = GenerationCard()
    job = runner.submit(_request())
    card.bind(job)
    generation = job.wait(30)

    assert generation.local_path is None and generation.video_url
    assert card.video.value == b""
    assert "was not downloaded" in card.message.value
    assert f"href='{generation.video_url}'" in card.message.value


def test_failed_download_shows_the_message_and_the_link(harness: Harness) -> None:
    url = "https://cdn.example.com/v/clip.mp4?_jwt=a&b=<c>"
    runner = harness.runner(CountingMock(lost_video_api(url)).transport)
    card = GenerationCard()
    job = runner.submit(_request())
    card.bind(job)
    with pytest.raises(DownloadError):
        job.wait(30)
    assert job.state is JobState.FAILED
    assert "Could not download" in card.message.value
    assert "https://cdn.example.com/v/clip.mp4?_jwt=a&amp;b=&lt;c&gt;" in card.message.value
    assert "<c>" not in card.message.value
    assert card.video.value == b""


def test_details_can_be_hidden() -> None:
    card = GenerationCard(show_details=False)
    assert card.details.layout.display == "none"
