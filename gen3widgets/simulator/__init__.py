"""An offline imitation of the AI/ML API's Runway image-to-video endpoints, with real MP4 video.

It serves ``gen3a_turbo`` and ``runway/gen4_turbo`` on the universal path
(``/v2/video/generations``) and the legacy Runway path
(``/v2/generate/video/runway/generation``), each with its own strict schema;
validates requests like the API (400 with the API's error body; 404 for a
retired model); moves each job through ``queued`` → ``generating`` →
``completed`` | ``error`` on an injectable clock; charges the account when a
generation completes (``GET /v2/billing``), reports every create in the usage
logs after a lag (``GET /v2/logs``) and lists the models with their prices
(``GET /v1/models``); sends the tracing and cost headers; serves signed,
expiring, seekable video links; and injects faults on demand (5xx, HTML 502,
truncated JSON, dropped connections, 429 with or without ``Retry-After``,
creates that are bought but whose answer is lost). It never imports the
client and never agrees with it just because the client said so.

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
from ._jobs import SimulatedJob, SimulatorStats
from ._logs import LogEntry
from ._options import Faults, SimulatorOptions
from ._render import RenderSpec
from ._responses import SimulatedDisconnect
from ._server import RunningSimulator, cli_main, start

__all__ = [
    "Faults",
    "LogEntry",
    "RenderSpec",
    "RunningSimulator",
    "SimulatedDisconnect",
    "SimulatedJob",
    "Simulator",
    "SimulatorOptions",
    "SimulatorStats",
    "cli_main",
    "start",
]
