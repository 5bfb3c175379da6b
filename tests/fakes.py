"""Test doubles shared by the suite."""

from __future__ import annotations

import asyncio


class FakeClock:
    """A clock that only moves when something sleeps on it.

    Give ``clock.now`` to the simulator and the clock itself to a client
    (``_clock=``): the client's sleeps advance time for both, so a 30 s job
    finishes in microseconds of real time and nothing in a test really sleeps.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self.t = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += max(seconds, 0.0)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)

    async def async_sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)
        await asyncio.sleep(0)  # still yield, as a real sleep would
