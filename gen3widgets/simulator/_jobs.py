"""Simulated generations: when each one moves on, and what the simulator counted.

A job's whole timeline is fixed the moment it is created (an event-time
simulation of a FIFO queue with ``concurrency`` slots), so its status at any
clock time is a pure function of that time: no background tasks, and a fake
clock moves every job along at once.
"""

from __future__ import annotations

import heapq
from collections import Counter
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from ._options import Phase
from ._pricing import credits
from ._validate import CreateParams, PathName


@dataclass
class SimulatorStats:
    """What the simulator saw; tests and benchmarks read these."""

    creates_received: int = 0
    creates_bought: int = 0  # jobs actually created (and paid for when they complete)
    creates_refused: int = 0  # 400 / 401 / 403 / 404 / 413 / 429 / 503: nothing bought
    creates_received_by_path: Counter[PathName] = field(default_factory=Counter)
    creates_bought_by_path: Counter[PathName] = field(default_factory=Counter)
    gets: int = 0  # polls of a generation, whatever the answer
    gets_per_job: dict[str, int] = field(default_factory=dict)
    downloads: int = 0  # requests for a video file, whatever the answer
    downloads_with_authorization: int = 0  # must stay 0: never send the key to the video host
    downloads_refused: int = 0  # 403 (bad or expired link), 404, 416
    completed_at: dict[str, float] = field(default_factory=dict)
    """Clock time each successful job completed: max(due time, render finished)."""
    failed_at: dict[str, float] = field(default_factory=dict)
    """Clock time each job that ends in ``error`` fails (known when it is created)."""
    faults_injected: Counter[str] = field(default_factory=Counter)
    logs_requests: int = 0  # GET /v2/logs, whatever the answer
    catalogue_requests: int = 0  # GET /v1/models, whatever the answer
    catalogue_not_modified: int = 0  # of those, answered 304 for a matching If-None-Match
    billing_requests: int = 0  # GET /v2/billing, whatever the answer


@dataclass
class SimulatedJob:
    """One generation as the simulator runs it (not the client's ``Job``)."""

    id: str
    path: PathName  # where it was bought
    params: CreateParams
    seed: int
    price_usd: float  # charged when it completes; never when it fails
    created_at: float
    started_at: float  # a slot was free: work begins, still reported as queued for a moment
    generating_at: float
    due_at: float  # completed or failed at this clock time (at the earliest, see render)
    error: dict[str, Any] | None = None  # the error object when the job is doomed to fail
    render: Future[bytes] | None = None
    rendered_at: float | None = None  # clock time the render finished

    @property
    def credits(self) -> int:
        return credits(self.price_usd)

    @property
    def render_failed(self) -> bool:
        render = self.render
        if render is None or not render.done():
            return False
        return render.cancelled() or render.exception() is not None

    def phase_at(self, now: float) -> Phase:
        """The phase by the clock alone (a due job may still await its render)."""
        if now < self.generating_at:
            return "queued"
        if now < self.due_at:
            return "generating"
        return "error" if self.error is not None else "completed"

    def running_at(self, now: float) -> bool:
        """Still queued or generating: its price is spoken for, not yet charged."""
        return now < self.due_at

    def failed_at(self, now: float) -> bool:
        """Ended in error by ``now`` (doomed, or its render failed): never charged."""
        return now >= self.due_at and (self.error is not None or self.render_failed)

    def charged_at(self, now: float) -> bool:
        """Completed by ``now``, so paid for."""
        return now >= self.due_at and not self.failed_at(now)


class Slots:
    """Start times of jobs sharing ``concurrency`` slots, first come first served."""

    def __init__(self, concurrency: int | None) -> None:
        self._concurrency = concurrency
        self._free_at: list[float] = []  # heap: when each busy slot frees

    def start(self, created_at: float, busy_for: float) -> float:
        """Book a slot for a job created at ``created_at``; return when it starts."""
        if self._concurrency is None:
            return created_at
        start = created_at
        if len(self._free_at) >= self._concurrency:
            start = max(created_at, heapq.heappop(self._free_at))
        heapq.heappush(self._free_at, start + busy_for)
        return start
