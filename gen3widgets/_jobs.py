"""Generations as background jobs in the kernel's event loop, observed by widgets.

A ``JobRunner`` submits, polls and downloads on an asyncio loop: the kernel's
own loop when created from a notebook cell (so nothing blocks the kernel and
the video appears without running another cell), else a private loop thread
(scripts, the command line). Every call into the runner is thread-safe, since
widget callbacks may arrive on another thread than the loop's.

Order of events for a job, each step recorded before the next starts:
create answered → id written to the history → polled → video downloaded into
the history's ``videos/`` → observers told it is done.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import logging
import threading
import time
from collections.abc import Callable
from enum import Enum
from typing import Any

from ._client import AsyncClient, Client, OnUpdate
from ._config import DEFAULT_WAIT_TIMEOUT
from ._errors import (
    Gen3Error,
    GenerationFailed,
    GenerationTimeout,
    NotFoundError,
    RateLimitError,
    SubmissionUncertain,
)
from ._models import Generation, GenerationRequest, Status
from ._polling import DURATIONS
from ._previews import ensure_previews
from ._store import HistoryStore

log = logging.getLogger("gen3widgets")

Observer = Callable[["Job"], None]
TICK_SECONDS = 1.0  # how often observers of running jobs hear about elapsed time
RATE_LIMIT_PATIENCE = 180.0  # seconds a 429'd create keeps being retried (nothing is bought)


class JobState(str, Enum):
    SUBMITTING = "submitting"  # the create request is under way
    RUNNING = "running"  # bought; the server is working on it
    DOWNLOADING = "downloading"  # completed; saving the video
    COMPLETED = "completed"
    FAILED = "failed"  # the server said error, or something went wrong
    UNCERTAIN = "uncertain"  # the create may or may not have been bought
    TIMEOUT = "timeout"  # still running server-side when the wait gave up

    @property
    def finished(self) -> bool:
        return self in (JobState.COMPLETED, JobState.FAILED, JobState.UNCERTAIN, JobState.TIMEOUT)


class Job:
    """One generation's life in this process: what widgets observe."""

    _ids = itertools.count(1)

    def __init__(
        self, runner: JobRunner, request: GenerationRequest | None, label: str = ""
    ) -> None:
        self.key = next(self._ids)
        self.runner = runner
        self.request = request
        self.label = label
        self.generation: Generation | None = None
        self.state = JobState.SUBMITTING
        self.message: str | None = None  # a readable sentence when something went wrong
        self.exception: BaseException | None = None
        self.started = time.monotonic()
        self.finished_at: float | None = None
        self._observers: list[Observer] = []
        self._done = threading.Event()
        self._async_done: asyncio.Event | None = None

    def __repr__(self) -> str:
        gid = self.generation.id if self.generation else None
        return f"Job(key={self.key}, state={self.state.value!r}, generation={gid!r})"

    # -- observing -------------------------------------------------------------------

    @property
    def done(self) -> bool:
        return self.state.finished

    @property
    def ok(self) -> bool:
        return self.state is JobState.COMPLETED

    @property
    def elapsed(self) -> float:
        end = self.finished_at if self.finished_at is not None else time.monotonic()
        return end - self.started

    @property
    def status_text(self) -> str:
        """What to show: the server's status while running, else the job's state."""
        if self.state is JobState.RUNNING and self.generation is not None:
            return self.generation.status.value
        return self.state.value

    def progress(self) -> float:
        """An estimate in 0..1 from how long such jobs usually take here."""
        if self.state in (JobState.COMPLETED, JobState.DOWNLOADING):
            return 1.0 if self.state is JobState.COMPLETED else 0.98
        if self.done:
            return 0.0
        clip = self.request.duration if self.request else None
        typical = self.runner.typical_seconds(clip)
        return min(0.95, self.elapsed / typical) if typical > 0 else 0.0

    def add_observer(self, observer: Observer) -> Callable[[], None]:
        """Call ``observer(job)`` on every change (and once a second while running)."""
        self._observers.append(observer)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._observers.remove(observer)

        return remove

    def _notify(self) -> None:
        for observer in list(self._observers):
            try:
                observer(self)
            except Exception:  # an observer's bug must not kill the job
                log.exception("A gen3widgets job observer failed")

    def _set(
        self, state: JobState, message: str | None = None, exc: BaseException | None = None
    ) -> None:
        self.state = state
        if message is not None:
            self.message = message
        if exc is not None:
            self.exception = exc
        if state.finished:
            self.finished_at = time.monotonic()
        # Observers first: whoever wait()s then sees widgets already showing the end.
        self._notify()
        if state.finished:
            self._done.set()
            if self._async_done is not None:
                self._async_done.set()

    # -- waiting ---------------------------------------------------------------------

    def wait(self, timeout: float | None = None) -> Generation:
        """Block until the job is done and return its generation (or raise what ended it).

        In a notebook cell this keeps the kernel's loop turning (via
        nest-asyncio2), so widgets go on updating while the cell waits.
        """
        loop = self.runner.loop
        if loop is not None and loop.is_running() and self.runner.on_loop_thread():
            from ._loop import run_nested

            run_nested(loop, self._wait_async_inner(timeout))
        elif not self._done.wait(timeout):
            raise TimeoutError(f"{self!r} did not finish within {timeout} s")
        return self.result()

    async def wait_async(self, timeout: float | None = None) -> Generation:
        await self._wait_async_inner(timeout)
        return self.result()

    async def _wait_async_inner(self, timeout: float | None) -> None:
        if self.done:
            return
        if self._async_done is None:
            self._async_done = asyncio.Event()
            if self.done:
                return
        try:
            await asyncio.wait_for(self._async_done.wait(), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"{self!r} did not finish within {timeout} s") from None

    def result(self) -> Generation:
        """The finished generation, or the error that ended the job."""
        if not self.done:
            raise RuntimeError("the job is still running; use wait()")
        if self.exception is not None:
            raise self.exception
        assert self.generation is not None
        return self.generation


class JobRunner:
    """Runs jobs for one client on one event loop, recording each in the history."""

    def __init__(
        self,
        client: AsyncClient | Client | None = None,
        *,
        store: HistoryStore | None = None,
        create_concurrency: int = 4,
        wait_timeout: float = DEFAULT_WAIT_TIMEOUT,
        download: bool = True,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.client = client if client is not None else AsyncClient.auto()
        client_history = self.client.history
        self.store = store if store is not None else (client_history or HistoryStore())
        # The client records each purchase itself when it writes to the same history.
        self._client_records = client_history is not None and client_history.path == self.store.path
        self.wait_timeout = wait_timeout
        self.download = download
        self.jobs: list[Job] = []
        self._create_slots_size = max(1, create_concurrency)
        self._create_slots: asyncio.Semaphore | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.loop = loop
        self._loop_thread: threading.Thread | None = None
        self._loop_thread_id: int | None = None
        self._seed_durations()

    @property
    def server(self) -> str:
        return self.client.base_url

    @property
    def simulated(self) -> bool:
        return self.client.is_simulated

    def typical_seconds(self, clip: int | None) -> float:
        """Roughly how long a job takes here, for progress bars."""
        earliest = DURATIONS.earliest(self.server, clip)
        if earliest is not None:
            return earliest * 1.25
        return 4.0 if self.simulated else 45.0

    def _seed_durations(self) -> None:
        try:
            DURATIONS.observe_many(self.server, self.store.job_durations(self.server))
        except Exception:  # a broken history must not stop new work
            log.exception("Could not read past job durations from %s", self.store)

    # -- loop handling ---------------------------------------------------------------

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        if self.loop is not None and not self.loop.is_closed():
            return self.loop
        try:
            self.loop = asyncio.get_running_loop()  # a notebook cell: the kernel's loop
            self._loop_thread_id = threading.get_ident()
        except RuntimeError:
            self.loop = self._start_private_loop()
        return self.loop

    def _start_private_loop(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            self._loop_thread_id = threading.get_ident()
            ready.set()
            loop.run_forever()

        self._loop_thread = threading.Thread(target=run, name="gen3widgets-jobs", daemon=True)
        self._loop_thread.start()
        ready.wait()
        return loop

    def on_loop_thread(self) -> bool:
        return self._loop_thread_id == threading.get_ident()

    def _schedule(self, job: Job, coro_factory: Callable[[], Any]) -> None:
        loop = self._ensure_loop()

        def start() -> None:
            task = loop.create_task(coro_factory())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            self._start_ticker()

        # Thread-safe, and wakes the loop even when called from a comm thread.
        loop.call_soon_threadsafe(start)

    # -- public ----------------------------------------------------------------------

    def submit(self, request: GenerationRequest, *, label: str = "") -> Job:
        """Start a job for ``request`` and return it at once."""
        job = Job(self, request, label)
        self.jobs.append(job)
        self._schedule(job, lambda: self._run(job))
        return job

    def resume(self, generation: Generation | str, *, label: str = "") -> Job:
        """Follow an already-bought generation (e.g. after a kernel restart) to its video."""
        if isinstance(generation, str):
            stored = self.store.get(generation)
            generation = (
                stored.generation if stored else Generation(id=generation, status=Status.QUEUED)
            )
        job = Job(self, generation.request, label)
        job.generation = generation
        job.state = JobState.RUNNING
        self.jobs.append(job)
        self._schedule(job, lambda: self._follow(job))
        return job

    # -- the job itself --------------------------------------------------------------

    async def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        method = getattr(self.client, name)
        if isinstance(self.client, AsyncClient):
            return await method(*args, **kwargs)
        return await asyncio.to_thread(method, *args, **kwargs)

    async def _submit_patiently(self, request: GenerationRequest) -> Generation:
        """Create, retrying 429s for a while longer than the client does (nothing is bought)."""
        if self._create_slots is None:
            self._create_slots = asyncio.Semaphore(self._create_slots_size)
        give_up = time.monotonic() + RATE_LIMIT_PATIENCE
        delay = 2.0
        while True:
            try:
                async with self._create_slots:
                    result: Generation = await self._call("submit", request)
                    return result
            except RateLimitError as exc:
                if time.monotonic() + delay > give_up:
                    raise
                wait = exc.retry_after if exc.retry_after is not None else delay
                log.info("Rate limited; nothing bought; trying again in %.0f s.", wait)
                await asyncio.sleep(wait)
                delay = min(delay * 2, 30.0)

    async def _run(self, job: Job) -> None:
        assert job.request is not None
        try:
            generation = await self._submit_patiently(job.request)
            generation.submitted_at = generation.submitted_at or time.time()
            job.generation = generation
            if not self._client_records:
                self.store.record_submitted(
                    generation, server=self.server, simulated=self.simulated
                )
        except SubmissionUncertain as exc:
            if not self._client_records:
                with contextlib.suppress(Exception):
                    self.store.record_uncertain(job.request, server=self.server, cause=exc.cause)
            job._set(JobState.UNCERTAIN, str(exc), exc)
            return
        except Exception as exc:
            job._set(JobState.FAILED, _sentence(exc), exc)
            return
        job._set(JobState.RUNNING)
        await self._follow(job)

    async def _follow(self, job: Job) -> None:
        generation = job.generation
        assert generation is not None
        loop = asyncio.get_running_loop()

        def on_update(updated: Generation) -> None:
            # The sync client calls this from a worker thread: hop to the loop.
            if self.on_loop_thread():
                self._changed(job, updated)
            else:
                loop.call_soon_threadsafe(self._changed, job, updated)

        try:
            update: OnUpdate = on_update
            generation = await self._call(
                "wait", generation, timeout=self.wait_timeout, on_update=update
            )
            job.generation = generation
            self.store.update(generation)
            if self.download:
                job._set(JobState.DOWNLOADING)
                await self._call("download", generation, self.store.videos_dir)
                self.store.update(generation)
                if generation.local_path is not None:  # views show these; never raises
                    await asyncio.to_thread(ensure_previews, generation.local_path)
            job._set(JobState.COMPLETED)
        except GenerationFailed as exc:
            self._record(exc.generation)
            job._set(JobState.FAILED, _sentence(exc), exc)
        except GenerationTimeout as exc:
            self._record(exc.generation)
            job._set(JobState.TIMEOUT, _sentence(exc), exc)
        except NotFoundError as exc:
            message = _sentence(exc)
            if self.simulated:
                message = (
                    f"Generation {generation.id} is unknown to the offline simulator: it lived "
                    "in a kernel that has since stopped. Simulated jobs cannot be resumed."
                )
                generation.status = Status.ERROR
                generation.error = message
                self._record(generation)
            job._set(JobState.FAILED, message, exc)
        except Exception as exc:  # never an unhandled exception in a kernel task
            if not isinstance(exc, Gen3Error):
                log.exception("Job for generation %s failed unexpectedly", generation.id)
            job._set(JobState.FAILED, _sentence(exc), exc)

    def _changed(self, job: Job, generation: Generation) -> None:
        job.generation = generation
        self._record(generation)
        job._notify()

    def _record(self, generation: Generation) -> None:
        try:
            self.store.update(generation)
        except Exception:
            log.exception("Could not record generation %s in the history", generation.id)

    def _start_ticker(self) -> None:
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.get_running_loop().create_task(self._tick())

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            active = [job for job in self.jobs if not job.done]
            if not active:
                return
            for job in active:
                job._notify()

    # -- shutting down ---------------------------------------------------------------

    def close(self) -> None:
        """Stop a private loop thread (the kernel's own loop is left alone)."""
        if self._loop_thread is not None and self.loop is not None:
            loop = self.loop

            async def shutdown() -> None:
                tasks = list(self._tasks)
                if self._ticker is not None:
                    tasks.append(self._ticker)
                for task in tasks:
                    task.cancel()
                # Let them unwind, so none is destroyed while still pending.
                await asyncio.gather(*tasks, return_exceptions=True)
                if isinstance(self.client, AsyncClient):
                    await self.client.close()

            with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
                asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread, self._loop_thread = self._loop_thread, None
            thread.join(10)
            if not thread.is_alive() and not loop.is_running():
                loop.close()  # else ResourceWarning: unclosed event loop (and its self-pipe)


def _sentence(exc: BaseException) -> str:
    if isinstance(exc, Gen3Error):
        return exc.message
    return f"Unexpected {type(exc).__name__}: {exc}"


_default_runner: JobRunner | None = None
_runner_lock = threading.Lock()


def default_runner() -> JobRunner:
    """The process-wide runner: the real API with ``AIMLAPI_KEY``, else the simulator."""
    global _default_runner
    with _runner_lock:
        if _default_runner is None:
            _default_runner = JobRunner()
        return _default_runner


def runner_for(client: AsyncClient | Client | JobRunner | None) -> JobRunner:
    """The runner widgets should use for ``client`` (one per client, reused)."""
    if client is None:
        return default_runner()
    if isinstance(client, JobRunner):
        return client
    runner: JobRunner | None = getattr(client, "_gen3widgets_runner", None)
    if runner is None:
        runner = JobRunner(client)
        client._gen3widgets_runner = runner  # type: ignore[union-attr]
    return runner
