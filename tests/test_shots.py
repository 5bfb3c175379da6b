"""Shot chains: each shot bought after the one before it, from its last frame; re-runs,
the film, and a sequence started in one session finished in another with nothing bought twice.
"""

from __future__ import annotations

import asyncio
import base64
import io
import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import httpx
import pytest
from PIL import Image, ImageChops

import gen3widgets as g3
from gen3widgets._frames import last_frame
from gen3widgets._jobs import JobRunner, JobState
from gen3widgets._shots import ShotChain
from tests.contract_api import BASE, ContractAPI
from tests.fakes import FakeClock, png_bytes
from tests.widget_support import Harness

WAIT = 60.0
PROMPTS = ["a boat leaves the harbour", "it rounds the lighthouse", "it sails into the dusk"]


class Gated(httpx.AsyncBaseTransport):
    """The imitation, with polls of chosen generations held until released."""

    def __init__(self, api: ContractAPI) -> None:
        self.api = api
        self.hold: set[int] = set()  # shot numbers (creates, counted from 0) whose polls wait
        self.release = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        if request.method == "GET" and "generation_id" in request.url.params:
            order = list(self.api.jobs).index(request.url.params["generation_id"])
            if order in self.hold:
                await self.release.wait()
        return self.api.handle(request)


@pytest.fixture
def made(harness: Harness) -> Callable[..., JobRunner]:
    def make(transport: Any, **options: Any) -> JobRunner:
        return harness.runner(harness.client(transport, base_url=BASE, **options))

    return make


def _sent_image(job: Any) -> Image.Image:
    uri = job.request.image
    return Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGB")


def _same(a: Image.Image, b: Image.Image) -> bool:
    return ImageChops.difference(a.convert("RGB"), b.convert("RGB")).getbbox() is None


def test_three_shots_are_bought_in_order_each_from_the_last_frame_before_it(
    made: Callable[..., JobRunner], clock: FakeClock, tmp_path: Path
) -> None:
    api = ContractAPI(clock)
    first = png_bytes((64, 36))
    chain = ShotChain(made(api.transport()), image=first, prompts=PROMPTS, seed=7)
    chain.submit()
    generations = chain.wait(WAIT)
    assert len(generations) == 3 and api.bought == 3
    jobs = list(api.jobs.values())
    for before, after in itertools.pairwise(jobs):
        assert after.created >= before.ends  # bought only once the shot before had its video
    shots = chain.shots
    assert _same(_sent_image(shots[0].job), Image.open(io.BytesIO(first)))
    for shot in shots[1:]:
        previous = shots[shot.index - 1]
        assert _same(_sent_image(shot.job), last_frame(previous.video))
    tags = [g.tags for g in generations]
    assert [t["shot"] for t in tags] == ["0", "1", "2"]
    assert {t["sequence"] for t in tags} == {chain.id}
    assert tags[1]["parent"] == generations[0].id and tags[2]["parent"] == generations[1].id
    assert [json.loads(r.content)["prompt"] for r in api.requests if r.method == "POST"] == PROMPTS
    film = chain.export(tmp_path / "film.mp4")
    with av.open(str(film)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    with av.open(str(shots[0].video)) as container:
        per_shot = sum(1 for _ in container.decode(video=0))
    assert frames == 3 * per_shot  # the film lasts the sum of its shots


def test_rerun_buys_one_shot_from_the_last_frame_before_it_and_marks_later_ones_stale(
    made: Callable[..., JobRunner], clock: FakeClock
) -> None:
    api = ContractAPI(clock)
    chain = ShotChain(made(api.transport()), image=png_bytes(), prompts=PROMPTS, seed=[1, 2, 3])
    chain.submit()
    chain.wait(WAIT)
    old = chain.shots[1].job
    chain.rerun(1)
    chain.wait(WAIT)
    assert api.bought == 4
    shot = chain.shots[1]
    assert shot.job is not old and len(shot.takes) == 2 and shot.job.ok
    assert _same(_sent_image(shot.job), last_frame(chain.shots[0].video))
    assert chain.shots[2].stale and "stale" in chain.shots[2].status
    with pytest.warns(RuntimeWarning, match="earlier take"):
        chain.export(Path(chain.shots[0].video).parent / "film.mp4")
    chain.rerun(1, cascade=True)
    chain.wait(WAIT)
    assert api.bought == 6 and not any(s.stale for s in chain.shots)


def test_a_failed_shot_stops_the_chain_and_buys_nothing_after_it(
    made: Callable[..., JobRunner], clock: FakeClock
) -> None:
    api = ContractAPI(clock, fail_with={"name": "Moderation", "message": "flagged"})
    chain = ShotChain(made(api.transport()), image=png_bytes(), prompts=PROMPTS)
    chain.submit()
    with pytest.raises(g3.GenerationFailed):
        chain.wait(WAIT)
    assert api.bought == 1
    assert chain.shots[0].job.state is JobState.FAILED
    assert [s.status for s in chain.shots[1:]] == ["not started", "not started"]
    with pytest.raises(g3.NotReadyError, match="no video"):
        chain.rerun(2)


def test_bad_input_is_refused_before_anything_is_bought(
    made: Callable[..., JobRunner], clock: FakeClock
) -> None:
    api = ContractAPI(clock)
    runner = made(api.transport())
    with pytest.raises(g3.ValidationError) as info:
        ShotChain(runner, image=png_bytes(), prompts=["ok", "x" * 1001], ratio="21:9", seed=[1])
    assert {"prompts[1]", "ratio", "seed"} <= set(info.value.problems)
    assert api.requests == []


def test_a_sequence_started_in_one_session_is_finished_in_another_without_buying_twice(
    made: Callable[..., JobRunner], clock: FakeClock
) -> None:
    api = ContractAPI(clock)
    gate = Gated(api)
    gate.hold = {1}  # the second shot is bought, then the first session ends while it runs
    first_runner = made(gate)
    chain = ShotChain(first_runner, image=png_bytes(), prompts=PROMPTS, seed=5)
    chain.submit()
    for _ in range(2000):
        if api.bought == 2:
            break
        first_runner.loop_run(asyncio.sleep(0.005))
    assert api.bought == 2
    first_runner.close()  # the kernel goes away mid-sequence
    second_runner = made(api.transport())
    again = ShotChain.resume(second_runner, chain.id)
    generations = again.wait(WAIT)
    assert api.bought == 3 and api.counts["creates"] == 3  # shots 1 and 2 were not bought again
    assert [g.tags["shot"] for g in generations] == ["0", "1", "2"]
    assert [s.prompt for s in again.shots] == PROMPTS and {s.seed for s in again.shots} == {5}
    assert _same(_sent_image(again.shots[2].job), last_frame(again.shots[1].video))
    with pytest.raises(g3.NotReadyError, match="No sequence"):
        ShotChain.resume(second_runner, "seq-unknown")
