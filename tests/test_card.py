"""GenerationCard: one job's view, driven by real jobs on the in-process simulator.

The card is tested as the front end sees it: its ``view`` state, and the
messages a browser sends (``FrontEnd``): clicks and requests for clips.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from gen3widgets import DownloadError, GenerationFailed, GenerationRequest, _previews
from gen3widgets._jobs import JobState
from gen3widgets._previews import poster_path, preview_path
from gen3widgets.simulator import Faults
from gen3widgets.widgets._clips import CHUNK_BYTES
from gen3widgets.widgets.card import GenerationCard
from tests.clips import noisy_mp4
from tests.fakes import fake_render
from tests.widget_support import (
    XSS,
    CountingMock,
    FrontEnd,
    Harness,
    failing_api,
    harness,
    lost_video_api,
    png_bytes,
    until_state,
)

__all__ = ["harness"]  # the fixture, imported for pytest

NBSP = "\u00a0"


def _request(seed: int = 7, prompt: str = "a slow dolly shot") -> GenerationRequest:
    return GenerationRequest(prompt=prompt, image=png_bytes(), seed=seed)


def _ready(card: GenerationCard) -> bool:
    clip = card.view.get("clip")
    return bool(clip and clip["ready"])


def _details(card: GenerationCard) -> dict[str, str]:
    return dict(card.view["details"])


def test_a_fresh_card_shows_nothing_yet() -> None:
    card = GenerationCard()
    assert card.job is None and card.kind == "card"
    assert card.view["bound"] is False
    assert (card.view["chip"], card.view["tone"]) == ("not started", "idle")
    assert card.view["clip"] is None and card.posters == {}
    assert "gen3-card" in card._esm and ".gen3-card" in card._css  # the shipped files


def test_the_title_is_carried_as_plain_text() -> None:
    card = GenerationCard(XSS)
    assert card.view["title"] == XSS  # data, never markup: the front end sets textContent
    card.set_title("")
    assert card.view["title"] == ""


def test_a_completed_job_is_served_on_demand_never_as_state(harness: Harness) -> None:
    sim, runner = harness.sim_runner(render=fake_render)
    card = GenerationCard("first")
    front = FrontEnd(card)
    job = runner.submit(_request(seed=1234))
    card.bind(job)
    generation = job.wait(30)
    until_state(card, lambda: _ready(card))

    assert job.state is JobState.COMPLETED and generation.local_path is not None
    view = card.view
    assert (view["tone"], view["running"], view["progress"]) == ("done", False, None)
    assert view["chip"].startswith("done · ") and view["chip"].endswith(f"{NBSP}s")
    details = _details(card)
    assert details["seed"] == "1234" and details["id"] == generation.id
    assert details["file"] == str(generation.local_path)
    assert details["model"] == "gen3a_turbo" and details["length"] == f"5{NBSP}s"
    assert generation.cost_usd is not None  # a real (not simulated) server's charge
    assert details["cost"] == f"${generation.cost_usd:.2f}"
    assert view["message"] == [] and view["link"] is None

    clip = view["clip"]
    assert clip["id"] == generation.id and clip["poster"] is True
    assert (clip["width"], clip["height"], clip["fps"]) == (64, 36, 8.0)
    # The card plays full resolution, fetched by an opaque key: exactly the file's bytes.
    assert front.fetch(clip["full"]) == generation.local_path.read_bytes()
    assert front.fetch(clip["preview"], "r2") == preview_path(generation.local_path).read_bytes()
    poster = card.posters[generation.id]
    assert poster.startswith("data:image/jpeg;base64,")
    assert (
        base64.b64decode(poster.split(",", 1)[1]) == poster_path(generation.local_path).read_bytes()
    )
    # No video bytes in the widget state: what a saved notebook would hold.
    state = json.dumps(card.get_state(), default=repr)
    assert base64.b64encode(generation.local_path.read_bytes()[:48]).decode() not in state
    assert sim.stats.downloads == 1


def test_a_big_clip_arrives_in_chunks_and_a_made_up_key_gets_nothing(harness: Harness) -> None:
    big = noisy_mp4(seconds=6.0)  # ~3 MB: several chunks
    assert len(big) > 2 * CHUNK_BYTES
    _, runner = harness.sim_runner(render=lambda spec: big)
    card = GenerationCard()
    front = FrontEnd(card)
    card.bind(runner.submit(_request()))
    card.job.wait(30)  # type: ignore[union-attr]
    until_state(card, lambda: _ready(card))

    assert front.fetch(card.view["clip"]["full"]) == big
    chunks = front.replies("r1")
    assert len(chunks) == -(-len(big) // CHUNK_BYTES)
    assert all(len(buffers[0]) <= CHUNK_BYTES for _, buffers in chunks)
    assert {c["size"] for c, _ in chunks} == {len(big)}

    # Two views of the same card ask at once: each gets the whole clip.
    assert front.fetch(card.view["clip"]["full"], "view-2") == big
    path = str(card.job.generation.local_path)  # type: ignore[union-attr]
    for i, key in enumerate(("../../etc/passwd", path, None, 3)):  # never a path from the browser
        with pytest.raises(ValueError, match="unknown clip"):
            front.fetch(key, f"bad-{i}")


def test_the_poster_shows_while_the_preview_is_still_being_made(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    made_by = _previews._run_maker
    poster_heard, go_on = threading.Event(), threading.Event()

    def held(video: Path, heard: Callable[[str], None]) -> str | None:
        def hold(line: str) -> None:
            heard(line)
            if line == _previews.POSTER_READY:  # the maker waits here until the test looked
                poster_heard.set()
                go_on.wait(30)

        return made_by(video, hold)

    monkeypatch.setattr(_previews, "_run_maker", held)
    _, runner = harness.sim_runner(render=fake_render)
    card = GenerationCard()
    front = FrontEnd(card)
    card.bind(runner.submit(_request()))
    generation = card.job.wait(30)  # type: ignore[union-attr]
    try:
        assert poster_heard.wait(30)
        until_state(card, lambda: generation.id in card.posters)
        clip = card.view["clip"]
        # A still at once; no video is loaded before it is known whether a preview exists.
        assert clip["poster"] is True and clip["ready"] is False and clip["preview"] is None
        assert (clip["width"], clip["height"]) == (64, 36)  # measured: read from the poster
    finally:
        go_on.set()
    until_state(card, lambda: _ready(card))
    assert (
        front.fetch(card.view["clip"]["preview"])
        == preview_path(
            generation.local_path  # type: ignore[arg-type]
        ).read_bytes()
    )


def test_a_clip_without_previews_still_plays_and_says_why(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_previews, "_run_maker", lambda video, heard: "the encoder is missing")
    _, runner = harness.sim_runner()
    card = GenerationCard()
    front = FrontEnd(card)
    card.bind(runner.submit(_request()))
    generation = card.job.wait(30)  # type: ignore[union-attr]
    until_state(card, lambda: _ready(card))

    clip = card.view["clip"]
    assert clip["preview"] is None and clip["poster"] is False and card.posters == {}
    assert _details(card)["preview"] == (
        "not made (the encoder is missing); the full clip plays instead"
    )
    assert front.fetch(clip["full"]) == generation.local_path.read_bytes()  # type: ignore[union-attr]


def test_binding_another_job_stops_following_the_first(harness: Harness) -> None:
    _, runner = harness.sim_runner(render=fake_render)
    card = GenerationCard()
    first = runner.submit(_request(seed=1))
    card.bind(first)
    first.wait(30)
    until_state(card, lambda: _ready(card))
    first_id = card.view["clip"]["id"]

    second = runner.submit(_request(seed=2))
    card.bind(second)
    assert card.job is second and card.view["clip"] is None
    generation = second.wait(30)
    until_state(card, lambda: _ready(card))
    assert card.view["clip"]["id"] == generation.id != first_id


def test_a_failed_job_shows_a_readable_message(harness: Harness) -> None:
    _, runner = harness.sim_runner(faults=Faults(job_error=1.0))
    card = GenerationCard()
    job = runner.submit(_request())
    card.bind(job)
    with pytest.raises(GenerationFailed):
        job.wait(30)

    assert job.state is JobState.FAILED
    assert card.view["tone"] == "failed" and card.view["chip"].startswith("failed")
    assert card.view["progress"] is None  # a bar only while running
    message = " ".join(card.view["message"])
    assert "submit again" in message and "Traceback" not in message
    assert card.view["clip"] is None


def test_the_servers_error_text_reaches_the_front_end_as_text(harness: Harness) -> None:
    runner = harness.runner(CountingMock(failing_api(XSS)).transport)
    card = GenerationCard()
    job = runner.submit(_request())
    card.bind(job)
    with pytest.raises(GenerationFailed):
        job.wait(30)
    assert XSS in " ".join(card.view["message"])  # verbatim: the front end never parses it


def test_completed_but_not_downloaded_offers_the_link(harness: Harness) -> None:
    sim = harness.simulator()
    runner = harness.runner(sim.async_transport(), download=False)
    card = GenerationCard()
    job = runner.submit(_request())
    card.bind(job)
    generation = job.wait(30)

    assert generation.local_path is None and generation.video_url
    assert card.view["clip"] is None
    assert "was not downloaded" in " ".join(card.view["message"])
    assert card.view["link"] == generation.video_url


def test_a_video_not_fetched_offers_its_link_and_a_free_fetch_again(harness: Harness) -> None:
    url = "https://cdn.example.com/v/clip.mp4?_jwt=a&b=<c>"
    back = threading.Event()
    mock = CountingMock(lost_video_api(url, back))
    runner = harness.runner(mock.transport)
    card = GenerationCard()
    front = FrontEnd(card)
    job = runner.submit(_request())
    card.bind(job)
    with pytest.raises(DownloadError):
        job.wait(30)
    assert job.state is JobState.NOT_FETCHED
    view = card.view
    assert view["can_fetch"] and view["tone"] == "warning"
    assert view["chip"] == "bought, video not fetched"
    assert "Could not download" in " ".join(view["message"])
    assert view["link"] == url

    back.set()  # the video host answers again
    front.click("fetch")
    generation = job.wait(30)
    until_state(card, lambda: _ready(card))
    assert job.state is JobState.COMPLETED and not card.view["can_fetch"]
    assert sum(r.method == "POST" for r in mock.requests) == 1  # nothing bought again
    assert front.fetch(card.view["clip"]["full"]) == generation.local_path.read_bytes()  # type: ignore[union-attr]


def test_a_link_that_is_not_http_is_never_offered(harness: Harness) -> None:
    runner = harness.runner(CountingMock(lost_video_api("javascript:alert(1)//.mp4")).transport)
    card = GenerationCard()
    job = runner.submit(_request())
    card.bind(job)
    with pytest.raises(DownloadError):
        job.wait(30)
    assert card.view["link"] is None


def test_commands_reach_every_view() -> None:
    card = GenerationCard()
    front = FrontEnd(card)
    card.play()
    card.pause()
    assert front.commands() == ["play", "pause"]
    with pytest.raises(ValueError, match="play, pause, restart"):
        card.send_command("rewind")


def test_where_widgets_do_not_run_the_card_shows_its_poster(harness: Harness) -> None:
    _, runner = harness.sim_runner(render=fake_render)
    card = GenerationCard(XSS)
    card.bind(runner.submit(_request()))
    generation = card.job.wait(30)  # type: ignore[union-attr]
    until_state(card, lambda: generation.id in card.posters)
    data, _ = card._repr_mimebundle_()
    html = data["text/html"]
    assert "application/vnd.jupyter.widget-view+json" in data
    assert card.posters[generation.id] in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_a_clip_removed_from_disk_is_refused_with_the_reason(harness: Harness) -> None:
    _, runner = harness.sim_runner(render=fake_render)
    card = GenerationCard()
    front = FrontEnd(card)
    card.bind(runner.submit(_request()))
    generation = card.job.wait(30)  # type: ignore[union-attr]
    until_state(card, lambda: _ready(card))
    generation.local_path.unlink()  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="cannot read the clip: No such file"):
        front.fetch(card.view["clip"]["full"])
