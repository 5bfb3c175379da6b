"""Generations as background jobs on an event loop, observed by widgets and the command line.

A ``JobRunner`` buys, follows and saves generations for one client, on an
asyncio loop: the kernel's own loop when made from a notebook cell (so nothing
blocks the kernel and the video appears without running another cell), else
a private ``LoopThread`` (scripts, the command line). Every call into the
runner is thread-safe: widget callbacks may arrive on another thread.

The client writes the ledger (every purchase before it is sent, then its
generation, status, cost and file); the runner writes nothing of its own.
A job's life:

    SUBMITTING → RUNNING → DOWNLOADING → COMPLETED
        ├─ REFUSED      nothing was bought (invalid for the server, no credits, over budget…)
        ├─ CHECKING     the create's answer was lost; looking it up in the usage logs
        │    ├─ RUNNING     found: followed like any other
        │    └─ UNCERTAIN   not found in time: maybe bought; never bought again by us
        ├─ FAILED       the server reported the generation failed (not charged)
        ├─ NOT_FETCHED  bought, but the video could not be fetched or saved: Fetch again, free
        └─ TIMEOUT      still running on the server when the wait gave up: follow again, free
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from enum import Enum
from typing import Any, TypeVar

from ._client import AsyncClient, Client
from ._config import DEFAULT_WAIT_TIMEOUT
from ._errors import (
    BudgetExceededError,
    Gen3Error,
    GenerationFailed,
    GenerationTimeout,
    ModelUnavailableError,
    NotFoundError,
    NotReadyError,
    RateLimitError,
    SubmissionUncertain,
    WaitTimeout,
    describe_exception,
)
from ._flows import Flow, OnUpdate
from ._loop import LoopThread, run_nested
from ._models import (
    Generation,
    GenerationRequest,
    PriceQuery,
    Status,
    Submission,
    SubmissionState,
)
from ._text import short_text

log = logging.getLogger("gen3widgets")

T = TypeVar("T")
Observer = Callable[["Job"], None]
AnyClient = AsyncClient | Client
TICK_SECONDS = 1.0  # how often observers of running jobs hear about elapsed time
RATE_LIMIT_PATIENCE = 180.0  # seconds a 429'd create keeps being retried (nothing is bought)


class JobState(str, Enum):
    SUBMITTING = "submitting"  # priced, written to the ledger, the create under way
    CHECKING = "checking"  # the create's answer was lost: looking it up in the usage logs
    RUNNING = "running"  # bought; the server is working on it
    DOWNLOADING = "downloading"  # completed; saving the video
    COMPLETED = "completed"
    REFUSED = "refused"  # not bought: the create was refused or never sent
    FAILED = "failed"  # the server reported the generation failed (never charged)
    NOT_FETCHED = "not_fetched"  # bought, but the video is not here: Fetch again (free)
    UNCERTAIN = "uncertain"  # may or may not have been bought; never re-bought by us
    TIMEOUT = "timeout"  # still running server-side when the wait gave up

    @property
    def finished(self) -> bool:
        return self not in _UNDERWAY

    @property
    def label(self) -> str:
        """What a person reads for this state."""
        return _LABELS[self]


_UNDERWAY = frozenset(
    {JobState.SUBMITTING, JobState.CHECKING, JobState.RUNNING, JobState.DOWNLOADING}
)
_LABELS = {
    JobState.SUBMITTING: "submitting",
    JobState.CHECKING: "answer lost: checking the usage logs",
    JobState.RUNNING: "running",
    JobState.DOWNLOADING: "saving the video",
    JobState.COMPLETED: "completed",
    JobState.REFUSED: "not bought",
    JobState.FAILED: "failed",
    JobState.NOT_FETCHED: "bought, video not fetched",
    JobState.UNCERTAIN: "maybe bought",
    JobState.TIMEOUT: "still running on the server",
}
# What a retry may do for each finished state: re-buy only what the server did not make.
REBUY_STATES = frozenset({JobState.FAILED, JobState.REFUSED})
FOLLOW_AGAIN_STATES = frozenset({JobState.NOT_FETCHED, JobState.TIMEOUT})


class Job:
    """One generation's life in this process: what widgets observe.

    ``started_at`` and ``finished_at`` are wall-clock times; ``elapsed`` is
    measured on the monotonic clock.
    """

    _keys = itertools.count(1)

    def __init__(
        self,
        runner: JobRunner,
        request: GenerationRequest | None,
        label: str = "",
        tags: dict[str, str] | None = None,
    ) -> None:
        self.key = next(self._keys)
        self.runner = runner
        self.request = request
        self.label = label
        self.tags = dict(tags or {})
        self.generation: Generation | None = None
        self.state = JobState.SUBMITTING
        self.message: str | None = None  # a readable sentence when something went wrong
        self.exception: BaseException | None = None
        self.started_at = time.time()
        self.finished_at: float | None = None
        self._t0 = time.monotonic()
        self._t1: float | None = None
        self._observers: list[Observer] = []
        self._done = threading.Event()
        # Async waiters, each a future on its own loop: the job ends on the runner's loop,
        # which may be another thread's (a script awaiting a job the kernel runs).
        self._waiters: list[asyncio.Future[None]] = []
        self._waiters_lock = threading.Lock()

    def __repr__(self) -> str:
        parts = []
        model = self.model
        seed = self.request.seed if self.request else None
        parts.append(f"seed {seed}" if seed is not None else "random seed")
        parts.append(model)
        parts.append(f"{self.state.label} after {self.elapsed:.0f} s")
        generation = self.generation
        if generation is not None and generation.local_path is not None:
            parts.append(f"video {generation.local_path}")
        elif generation is not None and generation.id:
            parts.append(f"generation {generation.id}")
        if self.message and self.state is not JobState.COMPLETED:
            parts.append(short_text(self.message, 80))
        return f"<Job {self.key}: {' · '.join(parts)}>"

    # -- observing -------------------------------------------------------------------

    @property
    def model(self) -> str:
        if self.generation is not None:
            return self.generation.model
        return self.request.model if self.request else "gen3a_turbo"

    @property
    def done(self) -> bool:
        return self.state.finished

    @property
    def ok(self) -> bool:
        return self.state is JobState.COMPLETED

    @property
    def elapsed(self) -> float:
        end = self._t1 if self._t1 is not None else time.monotonic()
        return end - self._t0

    @property
    def status_text(self) -> str:
        """What to show: the server's status while running, else the job's state."""
        if self.state is JobState.RUNNING and self.generation is not None:
            return self.generation.status.value
        return self.state.label

    def progress(self) -> float:
        """An estimate in 0..1 from how long such jobs usually take here."""
        if self.state is JobState.COMPLETED:
            return 1.0
        if self.state is JobState.DOWNLOADING:
            return 0.98
        if self.done:
            return 0.0
        clip = self.request.duration if self.request else None
        typical = self.runner.typical_seconds(self.model, clip)
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
            self.finished_at = time.time()
            self._t1 = time.monotonic()
        else:
            self.finished_at = self._t1 = None
        # Observers first: whoever wait()s then sees widgets already showing the end.
        self._notify()
        if not state.finished:
            self._done.clear()
            return
        self._done.set()
        with self._waiters_lock:
            waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            with contextlib.suppress(RuntimeError):  # its loop closed: nobody waits any more
                waiter.get_loop().call_soon_threadsafe(_wake, waiter)

    # -- waiting ---------------------------------------------------------------------

    def wait(self, timeout: float | None = None) -> Generation:
        """Block until the job ends and return its generation (or raise what ended it).

        In a notebook cell this keeps the kernel's loop turning (via
        nest-asyncio2), so widgets go on updating while the cell waits.
        ``WaitTimeout`` when ``timeout`` seconds pass first (the job goes on).
        """
        wait_all([self], timeout)
        return self.result()

    async def wait_async(self, timeout: float | None = None) -> Generation:
        """``wait()`` for async code."""
        await wait_all_async([self], timeout)
        return self.result()

    async def _until_done(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        with self._waiters_lock:
            if self.done:
                return
            self._waiters.append(waiter)
        await waiter

    def result(self) -> Generation:
        """The finished generation, or the error that ended the job."""
        if not self.done:
            raise NotReadyError(f"{self!r} is still going: wait() for it first.")
        if self.exception is not None:
            raise self.exception
        assert self.generation is not None
        return self.generation


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def wait_all(jobs: Sequence[Job], timeout: float | None = None) -> list[Job]:
    """Block until every job has ended; ``WaitTimeout`` after ``timeout`` seconds (None: never).

    Outcomes are on the jobs (``job.ok``, ``job.result()``). In a notebook cell the
    kernel's loop keeps turning meanwhile (widgets go on updating).
    """
    pending = [job for job in jobs if not job.done]
    if not pending:
        return list(jobs)
    runner = pending[0].runner
    loop = runner.loop
    if loop is not None and loop.is_running() and runner.on_loop_thread():
        return run_nested(loop, wait_all_async(jobs, timeout))
    deadline = None if timeout is None else time.monotonic() + timeout
    for job in pending:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        if not job._done.wait(left):
            raise _timeout(jobs, timeout)
    return list(jobs)


async def wait_all_async(jobs: Sequence[Job], timeout: float | None = None) -> list[Job]:
    """``wait_all`` for async code."""
    pending = [job for job in jobs if not job.done]
    if pending:
        waiting = asyncio.gather(*(job._until_done() for job in pending))
        try:
            await asyncio.wait_for(waiting, timeout)
        except asyncio.TimeoutError:
            raise _timeout(jobs, timeout) from None
    return list(jobs)


def _timeout(jobs: Sequence[Job], timeout: float | None) -> WaitTimeout:
    running = sum(not job.done for job in jobs)
    what = "The job was" if len(jobs) == 1 else f"{running} of {len(jobs)} jobs were"
    return WaitTimeout(
        f"{what} still going after {timeout:g} s; they go on in the background. "
        "wait() again to keep waiting."
    )


class JobRunner:
    """Runs jobs for one client on one event loop.

    ``create_concurrency`` bounds creates in flight (the API limits them);
    ``wait_timeout`` bounds how long each job is followed; ``download=False``
    leaves videos on the server.
    """

    def __init__(
        self,
        client: AnyClient | None = None,
        *,
        create_concurrency: int = 4,
        wait_timeout: float = DEFAULT_WAIT_TIMEOUT,
        download: bool = True,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.client: AnyClient = client if client is not None else AsyncClient.auto()
        self.wait_timeout = wait_timeout
        self.download = download
        self.jobs: list[Job] = []
        self.loop = loop
        self._create_slots_size = max(1, create_concurrency)
        self._create_slots: asyncio.Semaphore | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop_thread: LoopThread | None = None
        self._loop_thread_id: int | None = None
        self._unavailable: dict[str, ModelUnavailableError] = {}  # model -> why, said once
        self._looked_for_leftovers = False
        _runners[self.client] = self

    def __repr__(self) -> str:
        running = sum(not job.done for job in self.jobs)
        return f"JobRunner({self.client!r}, {len(self.jobs)} jobs, {running} running)"

    @property
    def server(self) -> str:
        return self.client.base_url

    @property
    def simulated(self) -> bool:
        return self.client.is_simulated

    def typical_seconds(self, model: str, clip: int | None) -> float:
        """Roughly how long a job takes here, for progress bars."""
        earliest = self.client._flows.durations.earliest(self.server, model, clip)
        if earliest is not None:
            return earliest * 1.25
        return 4.0 if self.simulated else 45.0

    # -- loop handling ---------------------------------------------------------------

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        if self.loop is not None and not self.loop.is_closed():
            return self.loop
        try:
            self.loop = asyncio.get_running_loop()  # a notebook cell: the kernel's loop
            self._loop_thread_id = threading.get_ident()
        except RuntimeError:
            self._loop_thread = LoopThread("gen3widgets-jobs")
            self.loop = self._loop_thread.loop
        return self.loop

    def on_loop_thread(self) -> bool:
        if self._loop_thread is not None:
            return self._loop_thread.on_thread()
        return self._loop_thread_id == threading.get_ident()

    def _schedule(self, make: Callable[[], Coroutine[Any, Any, None]]) -> None:
        loop = self._ensure_loop()

        def start() -> None:
            task = loop.create_task(make())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            self._start_ticker()

        # Thread-safe, and wakes the loop even when called from a comm thread.
        loop.call_soon_threadsafe(start)

    # -- public ----------------------------------------------------------------------

    def submit(
        self, request: GenerationRequest, *, label: str = "", tags: dict[str, str] | None = None
    ) -> Job:
        """Start a job for ``request`` and return it at once (``tags``: see ``Client.submit``)."""
        return self.submit_many([request], labels=[label], tags=[tags or {}])[0]

    def submit_many(
        self,
        requests: Sequence[GenerationRequest],
        *,
        labels: Sequence[str] | None = None,
        tags: Sequence[dict[str, str]] | None = None,
    ) -> list[Job]:
        """Start one job per request, all or none: the batch is priced and checked against
        the budget before anything is bought (a refusal shows on every job, one reason)."""
        count = len(requests)
        names = list(labels) if labels is not None else [""] * count
        labelled = list(tags) if tags is not None else [{}] * count
        jobs = [
            Job(self, request, label, tag)
            for request, label, tag in zip(requests, names, labelled, strict=True)
        ]
        self.jobs.extend(jobs)
        self._schedule(lambda: self._run_batch(jobs))
        return jobs

    def resume(self, generation: Generation | str, *, label: str = "") -> Job:
        """Follow an already-bought generation (e.g. after a kernel restart) to its video."""
        if isinstance(generation, str):
            stored = self.client.history.get(generation) if self.client.history else None
            generation = (
                stored.generation if stored else Generation(id=generation, status=Status.QUEUED)
            )
        job = Job(self, generation.request, label, generation.tags)
        job.generation = generation
        job.state = JobState.RUNNING
        self.jobs.append(job)
        self._schedule(lambda: self._follow(job))
        return job

    def fetch_again(self, job: Job) -> Job:
        """Follow a bought job again to its video (free: nothing is bought).

        For a job that was bought but whose video is not here (``NOT_FETCHED``)
        or whose wait gave up (``TIMEOUT``); the same ``Job`` goes on.
        """
        if job.state not in FOLLOW_AGAIN_STATES or job.generation is None:
            raise NotReadyError(
                f"{job!r} has nothing to fetch again: only a bought job whose video is "
                "missing, or whose wait gave up, can be followed again."
            )
        job.exception = None
        job.message = None
        job._set(JobState.RUNNING)
        self._schedule(lambda: self._follow(job))
        return job

    async def quote_async(self, queries: Sequence[GenerationRequest | PriceQuery]) -> float | None:
        """The price in USD of buying one video per query (None when one cannot be quoted)."""
        return await self._quote(queries)

    def background(
        self,
        make: Callable[[], Awaitable[T]],
        done: Callable[[T | BaseException], None],
    ) -> None:
        """Run ``make()`` on the runner's loop and call ``done`` with its result (or error).

        For a widget that shows something it must ask the API for (a price, the
        balance) without blocking the kernel; ``done`` runs on the loop.
        """

        async def run() -> None:
            result: T | BaseException
            try:
                result = await make()
            except Exception as exc:
                result = exc
            try:
                done(result)
            except Exception:
                log.exception("A gen3widgets background callback failed")

        self._schedule(run)

    async def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Await the client's method ``name`` (in a worker thread for a sync client)."""
        return await self._call(name, *args, **kwargs)

    async def listed(self, model: str) -> bool:
        """Whether the API's catalogue still lists ``model`` (by its id or an alias)."""
        entry = await self._drive(self.client._flows.catalogue(model))
        return entry is not None

    def loop_run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the runner's loop from another thread (scripts, the CLI)."""
        loop = self._ensure_loop()
        if self.on_loop_thread():
            return run_nested(loop, coroutine)
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result()

    # -- the jobs themselves -----------------------------------------------------------

    async def _drive(self, flow: Flow[T]) -> T:
        """Run one of the client's flows with its driver (a worker thread for a sync client)."""
        client = self.client
        if isinstance(client, AsyncClient):
            return await client._drive(flow)
        return await asyncio.to_thread(client._drive, flow)

    async def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        method = getattr(self.client, name)
        if isinstance(self.client, AsyncClient):
            return await method(*args, **kwargs)
        return await asyncio.to_thread(method, *args, **kwargs)

    async def _quote(self, queries: Sequence[GenerationRequest | PriceQuery]) -> float | None:
        total = 0.0
        prices: dict[PriceQuery, float | None] = {}
        for item in queries:
            query = item.price_query if isinstance(item, GenerationRequest) else item
            if query not in prices:
                try:
                    prices[query] = await self._drive(self.client._flows.estimate(query))
                except Gen3Error as exc:
                    log.info("No price for %s: %s", query.model, exc)
                    prices[query] = None
            price = prices[query]
            if price is None:
                return None
            total += price
        return total

    async def _run_batch(self, jobs: list[Job]) -> None:
        await self._look_for_leftovers()
        budget = self.client.budget_usd
        if budget is not None and len(jobs) > 1:
            requests = [job.request for job in jobs if job.request is not None]
            try:
                self.client.check_budget(await self._quote(requests), f"{len(jobs)} videos")
            except BudgetExceededError as exc:
                for job in jobs:
                    job._set(JobState.REFUSED, exc.message, exc)
                return
        await asyncio.gather(*(self._run(job) for job in jobs))

    async def _look_for_leftovers(self) -> None:
        """Once per runner: follow purchases an earlier session lost the answer of."""
        if self._looked_for_leftovers:
            return
        self._looked_for_leftovers = True
        try:
            found: list[Generation] = await self._call("reconcile")
        except Gen3Error as exc:
            log.warning("Could not look up earlier uncertain submissions: %s", exc)
            return
        for generation in found:
            self.resume(generation, label="found in the usage logs")

    async def _buy(self, request: GenerationRequest, tags: dict[str, str]) -> Generation:
        """Create, retrying 429s longer than the client does (nothing is bought meanwhile)."""
        if self._create_slots is None:
            self._create_slots = asyncio.Semaphore(self._create_slots_size)
        clock = self.client._flows.clock
        give_up = clock.now() + RATE_LIMIT_PATIENCE
        delay = 2.0
        while True:
            try:
                async with self._create_slots:
                    known = self._unavailable.get(request.model)
                    if known is not None:
                        raise known  # said once for the batch: no request for the other cells
                    result: Generation = await self._call(
                        "submit", request, reconcile_timeout=0, tags=tags
                    )
                    return result
            except RateLimitError as exc:
                if clock.now() + delay > give_up:
                    raise
                wait = exc.retry_after if exc.retry_after is not None else delay
                log.info("Rate limited; nothing bought; trying again in %.0f s.", wait)
                await clock.async_sleep(wait)
                delay = min(delay * 2, 30.0)
            except ModelUnavailableError as exc:
                self._unavailable.setdefault(request.model, exc)
                raise

    async def _run(self, job: Job) -> None:
        assert job.request is not None
        try:
            job.generation = await self._buy(job.request, job.tags)
        except SubmissionUncertain as exc:
            await self._check(job, exc)
            return
        except ModelUnavailableError as exc:
            first = self._unavailable.get(job.request.model, exc)
            job._set(JobState.REFUSED, first.message, first)
            return
        except Gen3Error as exc:
            job._set(JobState.REFUSED, exc.message, exc)
            return
        except Exception as exc:  # never an unhandled exception in a kernel task
            log.exception("Submitting a job failed unexpectedly")
            job._set(JobState.REFUSED, describe_exception(exc), exc)
            return
        job._set(JobState.RUNNING)
        await self._follow(job)

    async def _check(self, job: Job, lost: SubmissionUncertain) -> None:
        """A lost create answer: look it up in the usage logs for a while, then follow it."""
        assert job.request is not None and lost.submission_id is not None
        job._set(JobState.CHECKING, lost.message, lost)
        submission = Submission(
            id=lost.submission_id,
            request=job.request,
            server=self.server,
            tags=job.tags,
            state=SubmissionState.UNCERTAIN,
        )
        timeout = self.client._flows.reconcile_timeout
        try:
            found = await self._drive(self.client._flows.reconcile([submission], timeout=timeout))
        except Gen3Error as exc:
            log.warning("Could not read the usage logs: %s", exc)
            found = []
        if not found:
            final = SubmissionUncertain(
                job.request, lost.cause, submission_id=lost.submission_id, looked_for=timeout
            )
            job._set(JobState.UNCERTAIN, final.message, final)
            return
        job.generation = found[0]
        job.exception = None
        job._set(JobState.RUNNING, "")
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
            if self.download:
                job._set(JobState.DOWNLOADING)
                await self._call("download", generation)
            # Previews are the views' business (made when a view shows the clip): a script,
            # the command line, or a grid's wall time never waits for them.
            job._set(JobState.COMPLETED, "")
        except GenerationFailed as exc:
            job._set(JobState.FAILED, exc.message, exc)
        except GenerationTimeout as exc:
            job._set(JobState.TIMEOUT, exc.message, exc)
        except NotFoundError as exc:
            if self.simulated:  # the simulator forgets its jobs when its kernel stops
                message = (
                    f"Generation {generation.id} is unknown to the offline simulator: it lived "
                    "in a kernel that has since stopped. Simulated jobs cannot be resumed."
                )
                job._set(JobState.FAILED, message, exc)
            else:
                job._set(JobState.NOT_FETCHED, _not_fetched(exc), exc)
        except Exception as exc:  # never an unhandled exception in a kernel task
            if not isinstance(exc, Gen3Error):
                log.exception("Following generation %s failed unexpectedly", generation.id)
            job._set(JobState.NOT_FETCHED, _not_fetched(exc), exc)

    def _changed(self, job: Job, generation: Generation) -> None:
        job.generation = generation
        job._notify()

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

    async def aclose(self) -> None:
        """Cancel this runner's tasks on its loop and let them unwind (a borrowed loop stays)."""
        tasks = [t for t in (*self._tasks, self._ticker) if t is not None and not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def close(self) -> None:
        """Stop the runner: its tasks end; a private loop thread (and an async client) closes."""
        thread = self._loop_thread
        if thread is None:
            return
        client = self.client

        async def shutdown() -> None:
            await self.aclose()
            if isinstance(client, AsyncClient):
                await client.close()

        with contextlib.suppress(Exception):
            thread.run(shutdown())
        thread.close()
        self._loop_thread = None
        self.loop = None


def _not_fetched(exc: BaseException) -> str:
    return (
        f"The generation was bought, but its video is not here: {describe_exception(exc)} "
        "Fetch it again (free: nothing is bought again)."
    )


# One runner per client, without setting attributes on the client.
_runners: weakref.WeakKeyDictionary[AnyClient, JobRunner] = weakref.WeakKeyDictionary()
_default_runner: JobRunner | None = None
_runner_lock = threading.Lock()


def default_runner() -> JobRunner:
    """The process-wide runner: the real API with ``AIMLAPI_KEY``, else the simulator."""
    global _default_runner
    with _runner_lock:
        if _default_runner is None:
            _default_runner = JobRunner()
        return _default_runner


def runner_for(client: AnyClient | JobRunner | None) -> JobRunner:
    """The runner widgets should use for ``client`` (one per client, reused)."""
    if client is None:
        return default_runner()
    if isinstance(client, JobRunner):
        return client
    with _runner_lock:
        runner = _runners.get(client)
        if runner is None:
            runner = JobRunner(client)  # registers itself
        return runner
