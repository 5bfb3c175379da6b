"""When to ask the server again: a small pure schedule plus what it learns.

Goal: notice completion within about a second of it happening while sending
few requests. A fixed fast interval is wasteful for 25–60 s jobs and a fixed
slow one (the API's own samples poll every 10 s) is late by seconds. So the
schedule learns how long jobs take on a given server (per model and clip duration),
checks only sparsely until the earliest plausible finish, and then polls
every ``NEAR_INTERVAL`` seconds. With nothing learned yet it polls at the near
interval for the first ``NO_HISTORY_BRISK`` seconds and then backs off gently.

Time is measured from the last moment the job was seen ``queued`` (or from
submission), so time spent waiting for a server slot does not skew it.
``PollTimeline`` keeps that state for one wait; ``DurationStats`` what is learned.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable

from ._config import DEFAULT_BASE_URL

NEAR_INTERVAL = 0.9  # p95 of detection latency is ~0.95 of this, plus one round trip
SPARSE_MAX = 20.0  # longest gap between checks before the earliest plausible finish
NO_HISTORY_BRISK = 20.0
NO_HISTORY_MAX = 4.0
# The shortest job seen so far overstates the true shortest. With a few samples
# keep a wide margin; with more, step below the shortest by twice the typical gap
# between samples. (A fixed 0.95 missed p95 <= 1 s for 40–55 s jobs; see tests.)
FEW_SAMPLES = 4
FEW_SAMPLES_FACTOR = 0.7
SPREAD_STEPS = 2.0
MIN_FACTOR = 0.6
SAMPLES_KEPT = 20
KNOWN_EARLIEST = {DEFAULT_BASE_URL: 10.0}  # seconds, per server, before any job is seen


def next_poll_delay(elapsed: float, earliest: float | None) -> float:
    """Seconds to wait before the next status check.

    ``elapsed`` is seconds since the job was last seen queued (or submitted);
    ``earliest`` is the learned earliest plausible finish in the same terms,
    or ``None`` when nothing has been learned for this kind of job.
    """
    elapsed = max(elapsed, 0.0)
    if earliest is None:
        if elapsed < NO_HISTORY_BRISK:
            return NEAR_INTERVAL
        return min(NEAR_INTERVAL + (elapsed - NO_HISTORY_BRISK) * 0.1, NO_HISTORY_MAX)
    remaining = earliest - elapsed
    if remaining <= NEAR_INTERVAL:
        return NEAR_INTERVAL
    # Far from the earliest finish: land exactly on it in as few even steps as allowed.
    steps = -(-remaining // SPARSE_MAX)  # ceil
    return remaining / steps


class DurationStats:
    """Recent job durations per (server, model, clip duration); thread-safe, in memory.

    Each client has its own, fed at start-up with what its history learned, so
    what was learned survives a kernel restart. gen4_turbo is not gen3a_turbo,
    and a 10 s clip is not a 5 s one: each kind of job is learned on its own.
    """

    def __init__(self) -> None:
        self._samples: dict[tuple[str, str, int], deque[float]] = {}
        self._lock = threading.Lock()

    def observe(self, server: str, model: str, clip_seconds: int, job_seconds: float) -> None:
        if not job_seconds > 0:
            return
        with self._lock:
            key = (server, model, clip_seconds)
            self._samples.setdefault(key, deque(maxlen=SAMPLES_KEPT)).append(job_seconds)

    def observe_many(self, server: str, samples: Iterable[tuple[str, int, float]]) -> None:
        for model, clip_seconds, job_seconds in samples:
            self.observe(server, model, clip_seconds, job_seconds)

    def earliest(self, server: str, model: str, clip_seconds: int | None) -> float | None:
        """The earliest plausible finish for a new job, or ``None`` if nothing is known."""
        with self._lock:
            samples = self._samples.get((server, model, clip_seconds)) if clip_seconds else None
            if samples:
                return _earliest_of(list(samples))
        # Before anything is learned, the real API's documented 25–60 s still says
        # that nothing finishes in the first seconds: no need to poll them.
        return KNOWN_EARLIEST.get(server)

    def clear(self) -> None:
        with self._lock:
            self._samples.clear()


def _earliest_of(samples: list[float]) -> float:
    shortest = min(samples)
    if len(samples) < FEW_SAMPLES:
        return FEW_SAMPLES_FACTOR * shortest
    gap = (max(samples) - shortest) / (len(samples) - 1)
    return max(MIN_FACTOR * shortest, shortest - SPREAD_STEPS * gap)


class PollTimeline:
    """One wait's sense of time: when to look next, and how long the job took.

    All times are the client clock's (monotonic seconds). ``since`` is when the
    job last stopped being queued (or was submitted): the schedule and what is
    learned count from there, so time spent waiting for a server slot skews
    neither. ``deadline`` is a true deadline: no delay it hands out runs past it.
    """

    def __init__(
        self,
        *,
        now: float,
        deadline: float,
        submitted_at: float | None,
        earliest: Callable[[], float | None],
    ) -> None:
        self.deadline = deadline
        # A job this client did not just submit may have finished long ago: look at once.
        self._look_now = submitted_at is None
        self.since = submitted_at if submitted_at is not None else now
        self._running_at = self.since  # the last moment the job was seen unfinished
        # Asked at every step: jobs of a grid finishing meanwhile teach the others.
        self.earliest = earliest

    def remaining(self, now: float) -> float:
        return max(self.deadline - now, 0.0)

    def next_delay(self, now: float) -> float:
        """Seconds to sleep before the next look, never past the deadline."""
        if self._look_now:
            self._look_now = False
            return 0.0
        return min(next_poll_delay(now - self.since, self.earliest()), self.remaining(now))

    def saw(self, *, now: float, queued: bool, done: bool) -> None:
        """Record one look's outcome."""
        if queued:
            self.since = now
        if not done:
            self._running_at = now

    def job_seconds(self, now: float) -> float:
        """How long the job took, once seen finished at ``now``.

        It finished between the last two looks: the midpoint, not the moment it
        was noticed, or slow early polls would inflate what is learned.
        """
        return (self._running_at + now) / 2 - self.since
