"""Wiring clients to the built-in simulator when no API key is set.

The process shares one in-process simulator, running on its own loop thread,
so its work (decoding images, rendering video) never runs on the kernel's
event loop, and sync and async clients see the same jobs.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from typing import TYPE_CHECKING

import httpx

from ._errors import ConfigurationError

if TYPE_CHECKING:
    from .simulator import Simulator

SIMULATOR_BASE_URL = "http://simulator.gen3widgets.localhost"
# The simulator accepts any bearer token. Like any key this one is masked in every text,
# so it must not be a word that texts contain ("simulator" would mask the simulator's links).
SIMULATOR_KEY = "sim-key-3f9c2a71"

_shared: Simulator | None = None
_lock = threading.Lock()


def shared_simulator() -> Simulator:
    """The process-wide in-process simulator (created on first use)."""
    global _shared
    with _lock:
        if _shared is None:
            try:
                from .simulator import Simulator
            except ImportError as exc:
                raise ConfigurationError(
                    "No AIMLAPI_KEY is set and the offline simulator is not installed "
                    f"({exc.name or exc}). Either set AIMLAPI_KEY to use the real API, or "
                    "install the simulator: pip install 'gen3widgets[simulator]'."
                ) from None
            # A fresh seed per process: generation ids must not repeat across
            # sessions, or the on-disk history would mix up two runs' videos.
            _shared = Simulator(seed=secrets.randbits(32))
        return _shared


class _ThreadHopTransport(httpx.AsyncBaseTransport):
    """Async face of a sync transport: each request runs in a worker thread."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()

        def call() -> httpx.Response:
            sync_request = httpx.Request(
                request.method,
                request.url,
                headers=request.headers,
                content=body,
                extensions=request.extensions,  # keeps the client's timeouts
            )
            response = self._inner.handle_request(sync_request)
            content = response.read()
            response.close()
            return httpx.Response(response.status_code, headers=response.headers, content=content)

        return await asyncio.to_thread(call)

    async def aclose(self) -> None:
        return None


def sync_transport() -> httpx.BaseTransport:
    """A transport to the shared in-process simulator, for a ``Client``."""
    return shared_simulator().sync_transport()


def async_transport() -> httpx.AsyncBaseTransport:
    """A transport to the shared in-process simulator, for an ``AsyncClient``."""
    return _ThreadHopTransport(shared_simulator().sync_transport())
