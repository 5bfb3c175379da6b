"""A storm of faults: thirty generations through everything the contract says can go wrong.

Creates are refused with 429 (with and without ``Retry-After``) and 503, polls
fail with 500/502/503/504, gateway HTML, truncated JSON, dropped connections
and 429s, video downloads are cut short or refused, and every fifth job fails
on the server. Through it all every generation must end completed (its video
on disk) or failed with the server's own reason; the server must have sold
exactly as many videos as were asked for; and the event loop must never see a
task exception nobody retrieved.

It runs on a ``VirtualTimeLoop`` (``tests/fakes.py``): 20-40 s jobs, poll
intervals, backoff and ``Retry-After`` all pass in virtual time, on one
timeline shared by every job and the server, so the storm takes well under a
second of real time and the assertions are exact, not bounds widened for a
slow machine. The scripted faults add up to less than the client's retries,
so however the jobs interleave, none can be refused for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import random
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import gen3widgets as g3
from gen3widgets._jobs import Job, JobRunner, JobState
from gen3widgets._protocol import error_sentence
from gen3widgets._retry import Backoff
from gen3widgets._store import HistoryStore
from tests.contract_api import (
    ContractAPI,
    Fault,
    cut_short,
    html_502,
    html_as_video,
    raising,
    status,
    truncated,
)
from tests.contract_api import Job as ServerJob
from tests.fakes import KEY, FakeClock, VirtualTimeLoop, png_bytes

BASE = "https://storm.test"
WAIT_TIMEOUT = 3600.0  # virtual seconds: generous, the storm never gets near it
MAX_RETRIES = 8  # of one request; more than all the create (or video) faults put together
FAILURE = {"name": "ContentModerationError", "message": "the prompt was flagged"}
REASON = "ContentModerationError: the prompt was flagged"  # the sentence users must see


def fails(seed: int) -> bool:
    """Every fifth seed fails on the server (a moderation error, never charged)."""
    return seed % 5 == 0


class StormAPI(ContractAPI):
    """The contract imitation with jobs of 20-40 s, each failing by its seed's rule."""

    def _buy(self, request: httpx.Request, path: str, body: dict[str, Any]) -> ServerJob:
        job = super()._buy(request, path, body)
        seed = int(body.get("seed", 0))
        job.seconds = 20.0 + (seed * 13) % 21
        job.fail_with = FAILURE if fails(seed) else None
        return job


def create_storm() -> list[Fault]:
    """Eight refusals that buy nothing: 429 with and without ``Retry-After``, and 503."""
    return [
        status(429),
        status(503),
        status(429, headers={"Retry-After": "3"}),
        status(429),
        status(503),
        status(429, headers={"Retry-After": "1"}),
        status(429),
        status(503),
    ]


def get_storm() -> list[Fault]:
    """Sixty failed polls of every kind the contract names; GETs are retried, free."""
    kinds = [
        lambda: status(500),
        lambda: html_502(),
        lambda: status(503),
        lambda: truncated(),
        lambda: raising(httpx.RemoteProtocolError),
        lambda: status(504),
        lambda: raising(httpx.ReadTimeout),
        lambda: status(429, headers={"Retry-After": "2"}),
        lambda: status(502),
        lambda: truncated(),
    ]
    return [kinds[i % len(kinds)]() for i in range(60)]


def video_storm() -> list[Fault]:
    """Downloads that go wrong and are tried again: a cut-short video, HTML, a 503."""
    return [cut_short(), status(503), html_as_video(), cut_short(close_delimited=True)]


def storm_server(clock: Any) -> StormAPI:
    server = StormAPI(clock, logs_lag=5.0)
    server.create_faults.extend(create_storm())
    server.get_faults.extend(get_storm())
    server.video_faults.extend(video_storm())
    return server


def storm_client(server: ContractAPI, clock: Any, **kwargs: Any) -> g3.AsyncClient:
    client = g3.AsyncClient(
        KEY, base_url=BASE, transport=server.transport(), max_retries=MAX_RETRIES, **kwargs
    )
    client._flows.clock = clock
    client._flows.backoff = Backoff(rng=random.Random(7))
    return client


class GuardedLoop:
    """A loop (virtual time by default) that records every exception reaching its handler.

    That is where "Task exception was never retrieved" lands when a failed
    task is garbage-collected, and where a callback's crash goes.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.errors: list[dict[str, Any]] = []
        self.loop.set_exception_handler(lambda _loop, context: self.errors.append(context))

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        gc.collect()  # a forgotten failed task reports itself now, to our handler
        self.loop.run_until_complete(asyncio.sleep(0))
        self.loop.run_until_complete(self.loop.shutdown_default_executor())
        self.loop.close()


def guard(loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture) -> Iterator[Any]:
    guarded = GuardedLoop(loop)
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        yield guarded
        guarded.close()
    assert guarded.errors == [], [context.get("message") for context in guarded.errors]
    leaked = [r.getMessage() for r in caplog.records if r.name == "asyncio"]
    assert not any("never retrieved" in m or "destroyed" in m for m in leaked), leaked


@pytest.fixture
def virtual(caplog: pytest.LogCaptureFixture) -> Iterator[GuardedLoop]:
    yield from guard(VirtualTimeLoop(), caplog)


@pytest.fixture
def guarded(caplog: pytest.LogCaptureFixture) -> Iterator[GuardedLoop]:
    yield from guard(asyncio.new_event_loop(), caplog)


def check_sales(server: ContractAPI, bought_ids: set[str], asked: int) -> None:
    """Every video asked for was bought exactly once; every create fault struck and was survived."""
    assert len(bought_ids) == asked
    assert server.bought == asked and set(server.jobs) == bought_ids
    assert server.counts["creates"] == asked + len(create_storm())
    assert server.create_faults == [] and server.get_faults == [] and server.video_faults == []
    assert server.counts["downloads_with_auth"] == 0
    ids = [crid for crid in server.client_request_ids if crid is not None]
    assert len(ids) == server.counts["creates"]  # every create carried its submission id
    assert len(set(ids)) == asked  # ... the same one when it was sent again after a 429/503


# -- through AsyncClient -----------------------------------------------------------------------


def test_thirty_generations_through_async_client(virtual: GuardedLoop, tmp_path: Path) -> None:
    loop = virtual.loop
    assert isinstance(loop, VirtualTimeLoop)
    server = storm_server(loop.clock)
    client = storm_client(server, loop.clock, history=False, download_dir=tmp_path / "videos")
    asked = 30

    async def one(seed: int) -> g3.Generation | g3.GenerationFailed:
        try:
            generation = await client.generate(
                image=png_bytes(), prompt=f"storm {seed}", seed=seed, timeout=WAIT_TIMEOUT
            )
            await client.download(generation)
            return generation
        except g3.GenerationFailed as exc:
            return exc

    async def storm() -> list[Any]:
        try:
            # return_exceptions: an undocumented error is collected, not lost
            return await asyncio.gather(*(one(s) for s in range(asked)), return_exceptions=True)
        finally:
            await client.close()

    started = loop.time()
    outcomes = virtual.run(storm())
    took = loop.time() - started

    bought: set[str] = set()
    for seed, outcome in enumerate(outcomes):
        if fails(seed):
            assert isinstance(outcome, g3.GenerationFailed), (seed, outcome)
            failed = outcome.generation
            assert failed.status is g3.Status.ERROR and failed.error == REASON
            assert REASON in str(outcome) and failed.cost_usd == 0.0
            assert failed.id is not None
            bought.add(failed.id)
        else:
            assert isinstance(outcome, g3.Generation), (seed, outcome)
            assert outcome.ok and outcome.seed == seed and outcome.id is not None
            assert outcome.local_path is not None
            assert outcome.local_path.read_bytes() == server.video_bytes
            assert outcome.cost_usd == 0.25
            bought.add(outcome.id)
    check_sales(server, bought, asked)
    saved = sorted(p.name for p in (tmp_path / "videos").iterdir())
    assert saved == sorted(f"{o.id}.mp4" for o in outcomes if isinstance(o, g3.Generation))
    # Virtual time: the storm took the longest job's time and a little more for retries.
    longest = max(job.seconds for job in server.jobs.values())
    assert longest == 40.0 and longest < took < longest + 30
    assert error_sentence(FAILURE) == REASON


# -- through JobRunner and SeedGrid, on a loop like the kernel's ---------------------------


def test_thirty_generations_through_job_runner_and_seed_grid(
    virtual: GuardedLoop, tmp_path: Path
) -> None:
    from gen3widgets.widgets.grid import SeedGrid

    loop = virtual.loop
    assert isinstance(loop, VirtualTimeLoop)
    server = storm_server(loop.clock)
    store = HistoryStore(tmp_path / "home")
    client = storm_client(server, loop.clock, history=store)
    runner_seeds = list(range(15))
    grid_seeds = [1000 + i for i in range(15)]

    async def storm() -> tuple[list[Job], SeedGrid]:
        # Made inside the running loop, as in a notebook cell: the runner takes this loop.
        runner = JobRunner(client, create_concurrency=4, wait_timeout=WAIT_TIMEOUT)
        jobs = [
            runner.submit(
                g3.GenerationRequest(prompt=f"storm {s}", image=png_bytes(), seed=s), label=str(s)
            )
            for s in runner_seeds
        ]
        grid = SeedGrid("a storm grid", png_bytes(), seeds=grid_seeds, client=runner)
        grid.submit()
        await g3.wait_all_async(jobs)
        await g3.wait_all_async(grid.jobs)
        await runner.aclose()
        await client.close()
        return jobs, grid

    jobs, grid = virtual.run(storm())

    all_jobs = jobs + grid.jobs
    assert len(all_jobs) == 30 and all(job.done for job in all_jobs)
    bought: set[str] = set()
    for job in all_jobs:
        assert job.request is not None and job.generation is not None
        seed, generation = job.request.seed, job.generation
        assert seed is not None and generation.id is not None
        bought.add(generation.id)
        if fails(seed):
            assert job.state is JobState.FAILED, (seed, job)
            assert isinstance(job.exception, g3.GenerationFailed)
            assert REASON in (job.message or "")
        else:
            assert job.state is JobState.COMPLETED, (seed, job)
            assert generation.local_path is not None and generation.local_path.is_file()
            assert generation.local_path.parent == store.videos_dir
    check_sales(server, bought, 30)

    # The history has every purchase, each with the outcome its job saw; nothing is uncertain.
    rows = {row.generation.id: row.generation for row in store.entries()}
    assert set(rows) == bought
    for job in all_jobs:
        assert job.generation is not None and job.request is not None
        row = rows[job.generation.id]
        assert row.seed == job.request.seed and row.submission_id is not None
        if job.ok:
            assert row.status is g3.Status.COMPLETED and row.local_path is not None
            assert row.cost_usd == 0.25
        else:
            assert row.status is g3.Status.ERROR and row.error == REASON
    assert {r["state"] for r in store.submissions()} == {"bought"}
    assert len(store.submissions()) == 30 and store.unresolved(BASE) == []
    assert [cell.job for cell in grid.cells] == grid.jobs
    grid.close()


def test_the_storm_runs_the_same_way_twice(tmp_path: Path) -> None:
    """Virtual time makes the storm deterministic: two runs see the same timeline."""

    def timeline(run: int) -> list[tuple[int, float]]:
        loop = VirtualTimeLoop()
        server = storm_server(loop.clock)
        client = storm_client(server, loop.clock, history=False, download_dir=tmp_path / f"v{run}")

        async def one(seed: int) -> tuple[int, float]:
            with contextlib.suppress(g3.GenerationFailed):
                await client.generate(image=png_bytes(), seed=seed, timeout=WAIT_TIMEOUT)
            return seed, loop.time()

        async def storm() -> list[tuple[int, float]]:
            try:
                return list(await asyncio.gather(*(one(s) for s in range(10))))
            finally:
                await client.close()

        try:
            return loop.run_until_complete(storm())
        finally:
            loop.close()

    first, second = timeline(1), timeline(2)
    assert [seed for seed, _ in first] == list(range(10))
    assert first == second


# -- with the real renderer ------------------------------------------------------------


@pytest.mark.slow
def test_a_small_storm_with_real_video(
    guarded: GuardedLoop, clock: FakeClock, tmp_path: Path
) -> None:
    import av

    from gen3widgets.simulator import Faults, Simulator

    sim = Simulator(
        clock=clock.now,
        job_seconds=(20.0, 40.0),
        seed=20250607,
        faults=Faults(get_5xx=0.3, get_drop=0.1, get_truncated_json=0.1, create_503=0.3),
    )
    client = g3.AsyncClient(
        KEY, base_url="http://storm-sim.test", transport=sim.async_transport(), history=False
    )
    client._flows.clock = clock
    client._flows.backoff = Backoff(rng=random.Random(7))

    async def storm() -> list[Path]:
        try:
            made = await asyncio.gather(
                *(
                    client.generate(image=png_bytes((320, 192)), seed=s, timeout=WAIT_TIMEOUT)
                    for s in range(2)
                )
            )
            return [await client.download(g, tmp_path / "videos") for g in made]
        finally:
            await client.close()

    try:
        paths = guarded.run(storm())
    finally:
        sim.close()
    assert sim.stats.creates_bought == 2
    for path in paths:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            assert (stream.codec_context.width, stream.codec_context.height) == (1280, 768)
            assert sum(1 for _ in container.decode(stream)) > 0
