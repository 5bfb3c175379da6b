"""Answers that never arrive: bought-but-lost creates, dead servers, silent servers.

The rule for paid requests says a create that may have reached the server is
never sent again by the library. These tests buy through the simulator with
its answer lost (a dropped connection, a 500 after buying, an answer slower
than the client's timeout) and check that exactly one video was bought, that
the caller gets ``SubmissionUncertain`` saying what to check, that the job
runner keeps the request in the history, and that the panel says so in words.
A port nobody listens on and a server that accepts but never answers must
give a clear library error within the client's timeout.
"""

from __future__ import annotations

import asyncio
import io
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import gen3widgets as g3
from gen3widgets._jobs import JobRunner, JobState
from gen3widgets._polling import DurationStats
from gen3widgets._store import HistoryStore
from gen3widgets.simulator import Faults, Simulator
from gen3widgets.simulator._render import RenderSpec
from tests.fakes import FakeClock

BASE = "http://lost-sim.test"
KEY = "sk-test-lost-4c2e"
LOST = {
    "create_lost_answer": "disconnected",
    "create_500_after_buying": "500",
}


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 36), (30, 60, 90)).save(buffer, "PNG")
    return buffer.getvalue()


def fake_render(spec: RenderSpec) -> bytes:
    return b"\x00\x00\x00\x20ftypisom" + b"\x00" * 64


@pytest.fixture
def make_sim(clock: FakeClock) -> Iterator[Callable[..., Simulator]]:
    sims: list[Simulator] = []

    def make(**options: Any) -> Simulator:
        options.setdefault("clock", clock.now)
        options.setdefault("render", fake_render)
        options.setdefault("job_seconds", (1.0, 2.0))
        sims.append(Simulator(**options))
        return sims[-1]

    yield make
    for sim in sims:
        sim.close()


def sim_client(
    kind: str, sim: Simulator, clock: FakeClock, **kwargs: Any
) -> g3.Client | g3.AsyncClient:
    if kind == "sync":
        return g3.Client(KEY, base_url=BASE, transport=sim.sync_transport(), _clock=clock, **kwargs)
    return g3.AsyncClient(
        KEY, base_url=BASE, transport=sim.async_transport(), _clock=clock, **kwargs
    )


def call(client: g3.Client | g3.AsyncClient, name: str, *args: Any, **kwargs: Any) -> Any:
    """Call ``name`` on either kind of client, then close the client."""
    if isinstance(client, g3.Client):
        with client:
            return getattr(client, name)(*args, **kwargs)

    async def go() -> Any:
        async with client:
            return await getattr(client, name)(*args, **kwargs)

    return asyncio.run(go())


# -- a create bought, its answer lost --------------------------------------------------


@pytest.mark.parametrize("fault", sorted(LOST))
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_lost_create_answer_is_uncertain_and_bought_exactly_once(
    make_sim: Callable[..., Simulator], clock: FakeClock, fault: str, kind: str
) -> None:
    sim = make_sim(faults=Faults(**{fault: 1.0}))
    client = sim_client(kind, sim, clock)
    with pytest.raises(g3.SubmissionUncertain) as caught:
        call(client, "submit", image=png(), prompt="lost", seed=5)
    error = caught.value
    assert sim.stats.creates_received == 1 and sim.stats.creates_bought == 1
    assert len(sim.jobs) == 1
    assert LOST[fault] in error.cause
    assert error.request.seed == 5 and error.request.prompt == "lost"
    message = str(error)
    assert "NOT sent again" in message and "dashboard" in message
    assert "may or may not have been bought" in message
    assert KEY not in message and KEY not in repr(error)


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_an_answer_slower_than_the_timeout_is_uncertain_and_not_resent(
    make_sim: Callable[..., Simulator], clock: FakeClock, kind: str
) -> None:
    # The simulator buys, then answers 5 s later; the client gives up after 0.2 s.
    sim = make_sim(faults=Faults(slow_rate=1.0, slow_seconds=5.0))
    client = sim_client(kind, sim, clock, timeout=0.2)
    started = time.monotonic()
    with pytest.raises(g3.SubmissionUncertain, match="ReadTimeout"):
        call(client, "submit", image=png())
    assert time.monotonic() - started < 4.5  # gave up before the 5 s answer
    assert sim.stats.creates_received == 1 and sim.stats.creates_bought == 1


def test_the_runner_records_an_uncertain_create_and_never_resends_it(
    make_sim: Callable[..., Simulator], clock: FakeClock, tmp_path: Path
) -> None:
    sim = make_sim(faults=Faults(create_lost_answer=1.0))
    store = HistoryStore(tmp_path / "home")
    runner = JobRunner(sim_client("async", sim, clock), store=store)
    try:
        job = runner.submit(g3.GenerationRequest(image=png(), prompt="lost", seed=8))
        with pytest.raises(g3.SubmissionUncertain):
            job.wait(timeout=30)
    finally:
        runner.close()
    assert job.state is JobState.UNCERTAIN
    assert job.generation is None and "NOT sent again" in (job.message or "")
    (entry,) = store.uncertain()
    assert entry["server"] == BASE and "disconnected" in entry["cause"]
    assert store.entries() == []  # no id was ever known
    assert sim.stats.creates_received == 1 and sim.stats.creates_bought == 1


@pytest.mark.parametrize("fault", sorted(LOST))
def test_the_panel_says_the_purchase_is_uncertain_and_what_to_check(
    make_sim: Callable[..., Simulator], clock: FakeClock, tmp_path: Path, fault: str
) -> None:
    from gen3widgets.widgets.panel import GenerationPanel

    sim = make_sim(faults=Faults(**{fault: 1.0}))
    store = HistoryStore(tmp_path / "home")
    runner = JobRunner(sim_client("async", sim, clock), store=store)
    try:
        panel = GenerationPanel(runner, prompt="lost", image=png(), seed=3)
        job = panel.submit()
        with pytest.raises(g3.SubmissionUncertain):
            panel.wait(30)
        assert job.state is JobState.UNCERTAIN
        assert "submission state unknown" in panel.card.status.value
        message = panel.card.message.value
        assert "may or may not have been bought" in message
        assert "NOT sent again" in message and "dashboard" in message
        assert panel.card.progress.bar_style == "warning"
        assert "Traceback" not in message
        # The panel does not buy again by itself; pressing Generate again is the user's call.
        assert not panel.generate.disabled
        assert sim.stats.creates_received == 1 and sim.stats.creates_bought == 1
        assert len(store.uncertain()) == 1
        panel.close()
    finally:
        runner.close()


def test_a_lost_answer_over_a_real_socket_is_uncertain_too(clock: FakeClock) -> None:
    from gen3widgets.simulator import start

    with start(port=0, render=fake_render, faults=Faults(create_lost_answer=1.0)) as server:
        client = g3.Client(KEY, base_url=server.url, _clock=clock, timeout=5.0)
        with pytest.raises(g3.SubmissionUncertain) as caught:
            call(client, "submit", image=png())
        stats = server.app.stats
    assert "RemoteProtocolError" in caught.value.cause or "ReadError" in caught.value.cause
    assert stats.creates_received == 1 and stats.creates_bought == 1
    assert clock.sleeps == []


# -- nobody there, or nobody answering -------------------------------------------------


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SilentServer:
    """Accepts TCP connections on 127.0.0.1 and never answers (until stopped)."""

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = int(self._listener.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.connections: list[socket.socket] = []
        self._stopping = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            conn, _ = self._listener.accept()
            if self._stopping:
                conn.close()
                return
            self.connections.append(conn)  # held open, never read, never answered

    def stop(self) -> None:
        self._stopping = True
        socket.create_connection(("127.0.0.1", self.port)).close()  # wakes accept()
        self._thread.join(5)
        for conn in self.connections:
            conn.close()
        self._listener.close()


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.stop()


def client_for(kind: str, url: str, clock: FakeClock, **kwargs: Any) -> g3.Client | g3.AsyncClient:
    # The fake clock takes the backoff sleeps: only the network waits are real.
    cls = g3.Client if kind == "sync" else g3.AsyncClient
    return cls(KEY, base_url=url, _clock=clock, _durations=DurationStats(), **kwargs)


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_dead_port_is_a_transport_error_and_nothing_was_bought(
    kind: str, clock: FakeClock
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(g3.TransportError, match="Nothing was sent or bought") as caught:
        call(client_for(kind, url, clock, timeout=2.0), "submit", image=png())
    assert "AIMLAPI_BASE_URL" in str(caught.value)
    with pytest.raises(g3.TransportError, match="Could not get generation gen-1"):
        call(client_for(kind, url, clock, timeout=2.0), "get", "gen-1")
    assert time.monotonic() - started < 15.0  # not stuck; slack for a loaded machine
    # A refused connection is safe to retry: the backoff was used (on the fake clock).
    assert len(clock.sleeps) >= 2 * 4


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_server_that_never_answers_a_create_is_uncertain_within_the_timeout(
    kind: str, clock: FakeClock, silent: SilentServer
) -> None:
    started = time.monotonic()
    with pytest.raises(g3.SubmissionUncertain, match="ReadTimeout"):
        call(client_for(kind, silent.url, clock, timeout=0.3), "submit", image=png())
    assert time.monotonic() - started < 10.0  # the server never answers: only the timeout ends it
    assert len(silent.connections) == 1  # sent once, never again
    assert clock.sleeps == []


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_server_that_never_answers_a_get_is_a_transport_error_after_retries(
    kind: str, clock: FakeClock, silent: SilentServer
) -> None:
    started = time.monotonic()
    client = client_for(kind, silent.url, clock, timeout=0.2, max_retries=2)
    with pytest.raises(g3.TransportError, match="ReadTimeout"):
        call(client, "get", "gen-1")
    assert time.monotonic() - started < 10.0  # the server never answers: only timeouts end it
    assert len(clock.sleeps) == 2  # GETs are free: retried, then reported


def test_the_panel_on_a_dead_server_shows_a_clear_error(clock: FakeClock, tmp_path: Path) -> None:
    from gen3widgets.widgets.panel import GenerationPanel

    url = f"http://127.0.0.1:{free_port()}"
    client = g3.AsyncClient(KEY, base_url=url, _clock=clock, timeout=2.0)
    runner = JobRunner(client, store=HistoryStore(tmp_path / "home"))
    try:
        panel = GenerationPanel(runner, prompt="nobody home", image=png())
        job = panel.submit()
        with pytest.raises(g3.TransportError):
            panel.wait(30)
        assert job.state is JobState.FAILED
        message = panel.card.message.value
        assert "Could not connect" in message and "Nothing was sent or bought" in message
        assert "failed" in panel.card.status.value
        panel.close()
    finally:
        runner.close()
    assert runner.store.entries() == [] and runner.store.uncertain() == []
