"""Fixtures every test file may use.

* ``clock``: a ``FakeClock``; ``kind``: ``"sync"`` then ``"async"`` (each client test twice).
* ``server``: the contract imitation on ``clock``; ``make_api(server, **kwargs)``: a client
  of ``kind`` on it behind the one blocking face ``tests.fakes.Api``, closed afterwards.
* ``api``: ``make_api(server)``; ``loop``: a fresh event loop, closed afterwards.
* ``harness``: widgets' runners and simulators, closed afterwards (``tests.widget_support``).
* Always on: a fresh ``GEN3WIDGETS_HOME``, no ``AIMLAPI_KEY``, no name lookups beyond
  this machine (tests never use the network), and no remembered API path (which path
  works is remembered per base URL for the process).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.contract_api import ContractAPI
from tests.fakes import Api, FakeClock, make_client
from tests.widget_support import harness

__all__ = ["harness"]  # the fixture, defined with the widget helpers


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def server(clock: FakeClock) -> ContractAPI:
    return ContractAPI(clock)


@pytest.fixture
def make_api(kind: str) -> Iterator[Callable[..., Api]]:
    made: list[Api] = []

    def make(server: Any, **kwargs: Any) -> Api:
        made.append(make_client(kind, server, **kwargs))
        return made[-1]

    yield make
    for api in made:
        api.close()


@pytest.fixture
def api(make_api: Callable[..., Api], server: ContractAPI) -> Api:
    return make_api(server)


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(autouse=True)
def _forget_known_paths() -> Iterator[None]:
    from gen3widgets import _flows

    _flows._known_endpoints.clear()
    yield
    _flows._known_endpoints.clear()


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keep every test's history and videos out of the user's real data folder, and keyless."""
    home = tmp_path_factory.mktemp("gen3home")
    monkeypatch.setenv("GEN3WIDGETS_HOME", str(home))
    monkeypatch.delenv("AIMLAPI_KEY", raising=False)
    monkeypatch.delenv("AIMLAPI_BASE_URL", raising=False)
    monkeypatch.delenv("GEN3WIDGETS_ENDPOINT", raising=False)


_LOCAL_NAMES = {"localhost", "localhost.localdomain"}


@pytest.fixture(autouse=True)
def _no_name_lookups(monkeypatch: pytest.MonkeyPatch) -> None:
    """Names other than this machine's do not resolve (as offline; and without a DNS query).

    The client checks where a video host resolves before fetching from it; a test's
    ``cdn.test`` must not become a query to the network's resolver.
    """
    real = socket.getaddrinfo

    def local_only(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name is None or name in _LOCAL_NAMES or _is_address(name):
            return real(host, *args, **kwargs)
        raise socket.gaierror(socket.EAI_NONAME, f"tests resolve no names ({name!r})")

    monkeypatch.setattr(socket, "getaddrinfo", local_only)


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]").split("%")[0])
    except ValueError:
        return False
    return True
