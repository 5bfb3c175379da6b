"""The history store and the job runner, one piece at a time.

The store is the library's memory across kernel restarts, so these tests pin
down what it keeps (every id, at once), what it refuses to lose (uncertain
creates), and that several threads or kernels may use it at the same time.
The job runner tests drive it against the independent contract imitation
(``tests/contract_api.py``) on a fake clock: nothing sleeps for real.
"""

from __future__ import annotations

import asyncio
import gc
import io
import logging
import sqlite3
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import gen3widgets as g3
from gen3widgets._jobs import Job, JobRunner, JobState
from gen3widgets._polling import DurationStats
from gen3widgets._store import HistoryStore
from tests.contract_api import BASE, ContractAPI, status
from tests.fakes import FakeClock

KEY = "sk-test-store-0123456789"
URL_IMAGE = "https://images.example.com/first.png"


def png(size: tuple[int, int] = (64, 36), color: tuple[int, int, int] = (10, 200, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def request(seed: int = 1, image: Any = URL_IMAGE, **fields: Any) -> g3.GenerationRequest:
    return g3.GenerationRequest(prompt="a slow dolly shot", image=image, seed=seed, **fields)


def generation(gid: str, seed: int = 1, **fields: Any) -> g3.Generation:
    fields.setdefault("request", request(seed))
    return g3.Generation(id=gid, status=g3.Status.QUEUED, **fields)


@pytest.fixture
def store(tmp_path: Path) -> HistoryStore:
    return HistoryStore(tmp_path / "home")


# -- the store -------------------------------------------------------------------------


def test_a_submitted_id_is_on_disk_at_once_with_its_request(store: HistoryStore) -> None:
    store.record_submitted(generation("gen-1", seed=7, tokens_used=262500), server=BASE)
    again = HistoryStore(store.home).get("gen-1")  # a new instance: a restarted kernel
    assert again is not None
    assert again.server == BASE and not again.simulated
    assert again.generation.status is g3.Status.QUEUED
    assert again.generation.tokens_used == 262500
    assert again.generation.request == request(7)
    assert again.generation.submitted_at is not None


def test_local_images_are_stored_once_however_many_generations_use_them(
    store: HistoryStore,
) -> None:
    image = png()
    for i in range(5):
        store.record_submitted(generation(f"gen-{i}", request=request(i, image=image)), server=BASE)
    rows = store.entries()
    assert [row.generation.request.seed for row in rows if row.generation.request] == [
        4,
        3,
        2,
        1,
        0,
    ]
    assert all(row.generation.request.image.startswith("data:image/png") for row in rows)  # type: ignore[union-attr]
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM images").fetchone()[0] == 1
        stored = [r[0] for r in conn.execute("SELECT request FROM generations")]
    assert all("data:image" not in text and "sha256:" in text for text in stored)


def test_recording_an_id_twice_keeps_the_first(store: HistoryStore) -> None:
    store.record_submitted(generation("gen-1", seed=1), server=BASE)
    store.record_submitted(generation("gen-1", seed=2), server="https://other.test")
    rows = store.entries()
    assert len(rows) == 1 and rows[0].generation.seed == 1 and rows[0].server == BASE


def test_update_keeps_what_it_is_not_told(store: HistoryStore, tmp_path: Path) -> None:
    gen = generation("gen-1")
    store.record_submitted(gen, server=BASE)
    gen.status = g3.Status.COMPLETED
    gen.video_url = "https://cdn.test/gen-1.mp4"
    gen.finished_at = 1234.0
    gen.job_seconds = 42.0
    store.update(gen)
    video = tmp_path / "gen-1.mp4"
    video.write_bytes(b"mp4")
    later = store.get("gen-1")
    assert later is not None
    later.generation.local_path = video
    later.generation.video_url = None  # e.g. a later view without the link
    store.update(later.generation)
    row = store.get("gen-1")
    assert row is not None
    assert row.generation.video_url == "https://cdn.test/gen-1.mp4"
    assert row.generation.local_path == video
    assert row.generation.finished_at == 1234.0
    assert row.job_seconds == 42.0
    video.unlink()  # a deleted video is not reported as on disk
    row = store.get("gen-1")
    assert row is not None and row.generation.local_path is None


def test_pending_only_server_filter_limit_and_order(store: HistoryStore) -> None:
    for i, state in enumerate(["queued", "completed", "generating", "error", "waiting"]):
        gen = generation(f"gen-{i}", submitted_at=1000.0 + i)
        store.record_submitted(gen, server=BASE if i % 2 == 0 else "https://b.test")
        gen.status = g3.Status(state)
        store.update(gen)
    assert [r.generation.id for r in store.entries()] == [f"gen-{i}" for i in (4, 3, 2, 1, 0)]
    assert [r.generation.id for r in store.entries(pending_only=True)] == [
        "gen-4",
        "gen-2",
        "gen-0",
    ]
    assert [r.generation.id for r in store.entries(server="https://b.test")] == [
        "gen-3",
        "gen-1",
    ]
    assert [r.generation.id for r in store.entries(2)] == ["gen-4", "gen-3"]


def test_uncertain_creates_are_kept_for_the_user(store: HistoryStore) -> None:
    assert store.uncertain() == []
    store.record_uncertain(request(3, image=png()), server=BASE, cause="ReadTimeout: timed out")
    (entry,) = store.uncertain()
    assert entry["server"] == BASE and entry["cause"] == "ReadTimeout: timed out"


def test_job_durations_come_from_completed_jobs_only(store: HistoryStore) -> None:
    for i, (state, seconds) in enumerate(
        [("completed", 30.0), ("error", 5.0), ("completed", 41.0)]
    ):
        gen = generation(f"gen-{i}", submitted_at=1000.0 + i)
        store.record_submitted(gen, server=BASE)
        gen.status = g3.Status(state)
        gen.job_seconds = seconds
        store.update(gen)
    assert store.job_durations(BASE) == [(5, 30.0), (5, 41.0)]
    assert store.job_durations("https://elsewhere.test") == []


def test_a_row_whose_request_no_longer_validates_still_lists(store: HistoryStore) -> None:
    store.record_submitted(generation("gen-1", request=request(1, image=png())), server=BASE)
    with sqlite3.connect(store.path) as conn:
        conn.execute("DELETE FROM images")
    (row,) = HistoryStore(store.home).entries()
    assert row.generation.id == "gen-1" and row.generation.request is None


def test_many_threads_and_two_stores_on_one_home_lose_nothing(store: HistoryStore) -> None:
    other = HistoryStore(store.home)  # a second kernel on the same data folder
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        target = store if worker % 2 else other
        try:
            for i in range(25):
                gen = generation(f"w{worker}-{i}", seed=i)
                target.record_submitted(gen, server=BASE)
                gen.status = g3.Status.GENERATING
                target.update(gen)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    ids = {row.generation.id for row in store.entries()}
    assert ids == {f"w{w}-{i}" for w in range(8) for i in range(25)}


def test_history_reads_the_home_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEN3WIDGETS_HOME", str(tmp_path / "env-home"))
    HistoryStore().record_submitted(generation("gen-env"), server=BASE)
    assert [g.id for g in g3.history()] == ["gen-env"]
    assert (tmp_path / "env-home" / "history.sqlite3").is_file()
    assert g3.history(home=tmp_path / "elsewhere") == []


# -- the job runner --------------------------------------------------------------------


class Harness:
    """A JobRunner on a loop this test owns, against the contract imitation."""

    def __init__(self, tmp_path: Path, clock: FakeClock, *, sync_client: bool = False) -> None:
        self.clock = clock
        self.api = ContractAPI(clock)
        self.store = HistoryStore(tmp_path / "home")
        self.loop = asyncio.new_event_loop()
        self.loop_errors: list[dict[str, Any]] = []
        self.loop.set_exception_handler(lambda _loop, context: self.loop_errors.append(context))
        cls = g3.Client if sync_client else g3.AsyncClient
        self.client = cls(
            KEY,
            base_url=BASE,
            transport=self.api.transport(),
            _clock=clock,
            _durations=DurationStats(),
        )
        self.runner = JobRunner(self.client, store=self.store, loop=self.loop)

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return self.loop.run_until_complete(coro)

    def wait(self, *jobs: Job) -> None:
        async def all_done() -> None:
            for job in jobs:
                await job._wait_async_inner(None)

        self.run(all_done())

    def close(self) -> None:
        async def finish() -> None:
            for task in list(self.runner._tasks):
                await task
            if self.runner._ticker is not None:
                self.runner._ticker.cancel()
            closing = self.client.close()
            if asyncio.iscoroutine(closing):
                await closing

        self.run(finish())
        gc.collect()
        self.loop.run_until_complete(asyncio.sleep(0))
        self.loop.close()
        assert self.loop_errors == []


@pytest.fixture
def harness(tmp_path: Path, clock: FakeClock) -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def make(**kwargs: Any) -> Harness:
        made.append(Harness(tmp_path, clock, **kwargs))
        return made[-1]

    yield make
    for h in made:
        h.close()


@pytest.mark.parametrize("sync_client", [False, True], ids=["AsyncClient", "Client"])
def test_a_job_records_its_id_before_anything_else_and_ends_with_the_video(
    harness: Callable[..., Harness], sync_client: bool
) -> None:
    h = harness(sync_client=sync_client)
    seen: list[tuple[JobState, bool]] = []

    def observe(job: Job) -> None:
        recorded = job.generation is not None and h.store.get(job.generation.id) is not None
        seen.append((job.state, recorded))

    job = h.runner.submit(request(5), label="seed 5")
    job.add_observer(observe)
    h.wait(job)
    assert job.state is JobState.COMPLETED, job.message
    generation = job.result()
    assert generation.local_path is not None and generation.local_path.is_file()
    assert generation.local_path.parent == h.store.videos_dir
    assert generation.local_path.read_bytes() == h.api.video_bytes
    # Every state from "running" on was observed with the id already on disk.
    assert (JobState.RUNNING, True) in seen
    assert all(recorded for state, recorded in seen if state is not JobState.SUBMITTING)
    assert seen[-1] == (JobState.COMPLETED, True)
    row = h.store.get(generation.id)
    assert row is not None
    assert row.generation.status is g3.Status.COMPLETED
    assert row.generation.local_path == generation.local_path
    assert row.job_seconds is not None
    assert h.api.bought == 1 and h.api.counts["downloads_with_auth"] == 0


def test_a_failed_job_keeps_the_servers_reason(harness: Callable[..., Harness]) -> None:
    h = harness()
    h.api.fail_with = {"name": "ContentModeration", "message": "The prompt was flagged"}
    job = h.runner.submit(request(1))
    h.wait(job)
    assert job.state is JobState.FAILED
    assert "ContentModeration: The prompt was flagged" in (job.message or "")
    with pytest.raises(g3.GenerationFailed, match="The prompt was flagged"):
        job.result()
    assert job.generation is not None
    row = h.store.get(job.generation.id)
    assert row is not None and row.generation.status is g3.Status.ERROR
    assert row.generation.error == "ContentModeration: The prompt was flagged"


def test_an_uncertain_create_is_recorded_and_not_sent_again(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    fault = status(500)
    fault.bought = True
    h.api.create_faults.append(fault)
    job = h.runner.submit(request(1))
    h.wait(job)
    assert job.state is JobState.UNCERTAIN
    assert "NOT sent again" in (job.message or "")
    assert isinstance(job.exception, g3.SubmissionUncertain)
    assert h.api.counts["creates"] == 1 and h.api.bought == 1
    (entry,) = h.store.uncertain()
    assert "500" in entry["cause"]


def test_a_broken_observer_does_not_break_the_job(
    harness: Callable[..., Harness], caplog: pytest.LogCaptureFixture
) -> None:
    h = harness()

    def broken(job: Job) -> None:
        raise RuntimeError("widget bug")

    job = h.runner.submit(request(1))
    job.add_observer(broken)
    with caplog.at_level(logging.ERROR, logger="gen3widgets"):
        h.wait(job)
    assert job.state is JobState.COMPLETED
    assert any("observer failed" in r.getMessage() for r in caplog.records)


def test_resume_after_a_restart_finds_the_request_and_the_video(
    harness: Callable[..., Harness], tmp_path: Path, clock: FakeClock
) -> None:
    h = harness()
    bought = h.client.submit(request(9, image=png()))
    if asyncio.iscoroutine(bought):
        bought = h.run(bought)
    h.store.record_submitted(bought, server=BASE)
    # A new process: a new client and runner, the same server and store.
    later = harness()
    later.api = h.api
    later.client = g3.AsyncClient(
        KEY, base_url=BASE, transport=h.api.transport(), _clock=clock, _durations=DurationStats()
    )
    later.runner = JobRunner(later.client, store=HistoryStore(h.store.home), loop=later.loop)
    job = later.runner.resume(bought.id)
    assert job.request is not None and job.request.seed == 9
    later.wait(job)
    assert job.state is JobState.COMPLETED, job.message
    assert job.result().local_path is not None
    assert h.api.bought == 1


def test_a_runner_without_a_running_loop_uses_its_own_thread(
    tmp_path: Path, clock: FakeClock
) -> None:
    api = ContractAPI(clock)
    client = g3.Client(
        KEY, base_url=BASE, transport=api.transport(), _clock=clock, _durations=DurationStats()
    )
    runner = JobRunner(client, store=HistoryStore(tmp_path / "home"))
    try:
        jobs = [runner.submit(request(seed)) for seed in range(3)]
        results = [job.wait(timeout=30) for job in jobs]
        assert all(g.ok and g.local_path is not None for g in results)
        assert runner._loop_thread is not None and runner._loop_thread.is_alive()
        thread = runner._loop_thread
    finally:
        runner.close()
        client.close()
    assert not thread.is_alive()
    assert api.bought == 3
