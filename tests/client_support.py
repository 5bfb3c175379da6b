"""One face for both clients, against the independent contract imitation.

Client tests take the ``api`` (or ``make_api``) fixture and run twice, once
per client (the ``kind`` fixture): ``Api`` runs an ``AsyncClient``'s
coroutines on a private loop, so a test reads the same for both. Import the
fixtures a test module uses from here.
"""

from __future__ import annotations

import asyncio
import inspect
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import gen3widgets as g3
from gen3widgets._polling import DurationStats
from gen3widgets._retry import Backoff
from tests.contract_api import BASE, ContractAPI
from tests.fakes import FakeClock

KEY = "sk-live-TOPSECRET-0123456789"
IMAGE = "https://images.example.com/cat.png"


class Api:
    """One face for both clients: an async client's coroutines run on a private loop."""

    def __init__(self, client: g3.Client | g3.AsyncClient, loop: asyncio.AbstractEventLoop) -> None:
        self.client = client
        self.loop = loop

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.client, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            result = attr(*args, **kwargs)
            if inspect.isawaitable(result):
                return self.loop.run_until_complete(result)
            return result

        return call


def tune(client: g3.Client | g3.AsyncClient, clock: FakeClock, *, seed: int = 7) -> None:
    """Put a client on the fake clock with its own learning and a repeatable backoff."""
    import random

    flows = client._flows
    flows.clock = clock
    flows.durations = DurationStats()
    flows.backoff = Backoff(rng=random.Random(seed))


def png_bytes(
    size: tuple[int, int] = (64, 36), color: tuple[int, int, int] = (200, 100, 50)
) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture
def server(clock: FakeClock) -> ContractAPI:
    return ContractAPI(clock)


@pytest.fixture
def make_api(
    kind: str, clock: FakeClock, loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> Iterator[Callable[..., Api]]:
    made: list[Api] = []

    def make(server: ContractAPI, **kwargs: Any) -> Api:
        cls = g3.Client if kind == "sync" else g3.AsyncClient
        kwargs.setdefault("api_key", KEY)
        kwargs.setdefault("base_url", BASE)
        client = cls(transport=server.transport(), **kwargs)
        tune(client, clock)
        api = Api(client, loop)
        made.append(api)
        return api

    yield make
    for api in made:
        api.close()


@pytest.fixture
def api(make_api: Callable[..., Api], server: ContractAPI) -> Api:
    return make_api(server)


@pytest.fixture(autouse=True)
def _forget_known_paths() -> Iterator[None]:
    """Which path works is remembered per base URL for the process: each test starts afresh."""
    from gen3widgets import _flows

    _flows._known_endpoints.clear()
    yield
    _flows._known_endpoints.clear()
