"""An offline imitation of the AI/ML API's Runway gen3a_turbo endpoints, with real MP4 video.

It validates requests like the API (400 with the API's error body), charges
at create time, moves each job through ``queued`` → ``generating`` →
``completed`` | ``error`` on an injectable clock, serves signed, expiring,
seekable video links, and injects faults on demand (5xx, HTML 502, truncated
JSON, dropped connections, 429 with or without ``Retry-After``, creates that
are bought but whose answer is lost). It never agrees with a client just
because the client said so.

In-process (tests, notebooks)::

    from gen3widgets.simulator import Simulator, Faults
    sim = Simulator(clock=clock.now, faults=Faults(get_5xx=0.3))
    httpx.AsyncClient(transport=sim.async_transport(), base_url="http://sim.test")
    httpx.Client(transport=sim.sync_transport(), base_url="http://sim.test")

On a port::

    with start(port=0) as running:       # running.url, running.app.stats
        ...

From a shell: ``gen3widgets simulate --port 8000`` (see ``cli_main``).
"""

from __future__ import annotations

from ._app import Simulator
from ._jobs import Job, SimulatorStats
from ._options import Faults, SimulatorOptions
from ._responses import SimulatedDisconnect
from ._server import RunningSimulator, cli_main, start

__all__ = [
    "Faults",
    "Job",
    "RunningSimulator",
    "SimulatedDisconnect",
    "Simulator",
    "SimulatorOptions",
    "SimulatorStats",
    "cli_main",
    "start",
]
