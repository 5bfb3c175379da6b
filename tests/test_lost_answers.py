"""Answers that never arrive: bought-but-lost creates, dead servers, silent servers.

The rule for paid requests says a create that may have reached the server is
never sent again by the library. Its submission is on disk (its id went out
as ``X-Client-Request-Id``), so the usage logs can tie it to the generation
it bought. These tests lose create answers in every way the contract names
(a read timeout, a dropped connection, a 500/502, an unreadable 200) against
the independent contract imitation, whose usage logs lag, and check: the
same generation comes back with exactly one purchase; when the logs lag past
the reconcile window the caller gets ``SubmissionUncertain`` saying what to
check, the history keeps the submission as uncertain, and a later
``reconcile()`` finds it. The job runner and the panel say so in words. A
port nobody listens on and a server that accepts but never answers give a
clear library error within the client's timeout.
"""

from __future__ import annotations

import socket
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import gen3widgets as g3
from gen3widgets._jobs import JobState
from tests.contract_api import ContractAPI, Fault, html_502, raising, status, truncated
from tests.fakes import KEY, Api, FakeClock, ServedContract, dead_pid, make_client, png_bytes
from tests.widget_support import Harness

IMAGE = "https://images.example.com/lake.jpg"
# Each way a create's answer can be lost after the server bought it.
LOST = {
    "read-timeout": (lambda: raising(httpx.ReadTimeout, bought=True), "ReadTimeout"),
    "dropped": (lambda: raising(httpx.RemoteProtocolError, bought=True), "RemoteProtocolError"),
    "500": (lambda: status(500, bought=True), "500"),
    "502-html": (lambda: html_502(bought=True), "502"),
    "504": (lambda: status(504, bought=True), "504"),
    "truncated-200": (lambda: truncated(bought=True), "could not be read"),
}


def lost(name: str) -> Fault:
    return LOST[name][0]()


def submissions(api: Api) -> dict[str, dict[str, Any]]:
    history = api.client.history
    assert history is not None
    return {row["id"]: row for row in history.submissions()}


# -- a create bought, its answer lost, found in the usage logs ------------------------------


@pytest.mark.parametrize("fault", sorted(LOST))
def test_a_lost_create_is_found_in_the_usage_logs_and_bought_once(
    make_api: Callable[..., Api], clock: FakeClock, fault: str
) -> None:
    server = ContractAPI(clock, logs_lag=5.0)  # the logs show it 5 s after the create
    server.create_faults.append(lost(fault))
    api = make_api(server)
    bought = api.submit(image=IMAGE, prompt="lost", seed=5)
    (job,) = server.jobs.values()
    assert bought.id == job.id  # the very generation the server made
    assert bought.submission_id == server.client_request_ids[0]
    assert bought.seed == 5 and bought.request is not None and bought.request.prompt == "lost"
    assert server.counts["creates"] == 1 and server.bought == 1  # never sent again
    done = api.wait(bought, timeout=60)
    assert done.ok and done.id == job.id
    row = submissions(api)[bought.submission_id]  # type: ignore[index]
    assert (row["state"], row["generation_id"], row["found_in_logs"]) == ("bought", job.id, 1)
    listed = [g for g in g3.history() if g.submission_id == bought.submission_id]
    assert [(g.id, g.status.value) for g in listed] == [(job.id, "completed")]
    assert server.counts["creates"] == 1 and server.bought == 1
    assert clock.t - 1000.0 < 120  # found well inside the reconcile window


def test_generate_survives_a_lost_create_answer_and_completes(
    make_api: Callable[..., Api], clock: FakeClock
) -> None:
    server = ContractAPI(clock, logs_lag=2.0)
    server.create_faults.append(lost("dropped"))
    done = make_api(server).generate(image=IMAGE, seed=9, timeout=120)
    assert done.ok and done.id in server.jobs and server.bought == 1
    assert server.counts["creates"] == 1


@pytest.mark.parametrize("fault", ["read-timeout", "500"])
def test_logs_lagging_past_the_window_leave_it_uncertain_until_a_later_reconcile(
    make_api: Callable[..., Api], clock: FakeClock, fault: str
) -> None:
    server = ContractAPI(clock, logs_lag=400.0)  # the analytics pipeline is far behind
    server.create_faults.append(lost(fault))
    api = make_api(server, reconcile_timeout=30.0)
    with pytest.raises(g3.SubmissionUncertain) as caught:
        api.submit(image=IMAGE, prompt="lost", seed=5)
    error = caught.value
    assert LOST[fault][1] in error.cause
    assert error.request.seed == 5 and error.request.prompt == "lost"
    assert error.submission_id == server.client_request_ids[0]
    message = str(error)
    assert "may or may not have been bought" in message and "NOT sent again" in message
    assert "not in the usage logs after 30 s" in message and "reconcile()" in message
    assert KEY not in message and KEY not in repr(error)
    assert server.counts["creates"] == 1 and server.bought == 1
    assert server.counts["logs"] >= 2  # looked, and looked again, within the window

    # Kept, uncertain, in the history: in this process and in any later one.
    assert submissions(api)[error.submission_id]["state"] == "uncertain"  # type: ignore[index]
    (kept,) = [g for g in g3.history() if g.submission_id == error.submission_id]
    assert (kept.id, kept.status.value, kept.seed) == (None, "uncertain", 5)
    with pytest.raises(g3.NotReadyError, match="reconcile"):
        api.wait(kept)

    clock.advance(600)  # later, the logs have caught up
    (found,) = api.reconcile()
    assert found.id == next(iter(server.jobs)) and found.submission_id == error.submission_id
    assert submissions(api)[error.submission_id]["state"] == "bought"  # type: ignore[index]
    assert api.wait(found, timeout=60).ok
    assert server.counts["creates"] == 1 and server.bought == 1
    assert api.reconcile() == []  # nothing is left to find


def test_a_lost_create_the_logs_show_failed_is_reported_as_not_bought(
    make_api: Callable[..., Api], clock: FakeClock
) -> None:
    server = ContractAPI(clock, logs_lag=2.0)
    server.create_faults.append(status(500))  # answered 500 and NOT bought: a failed log row
    api = make_api(server)
    with pytest.raises(g3.Gen3Error) as caught:
        api.submit(image=IMAGE)
    assert server.bought == 0 and server.counts["creates"] == 1
    assert [row["state"] for row in submissions(api).values()] == ["not_bought"]
    assert not isinstance(caught.value, g3.SubmissionUncertain)
    assert "not bought" in str(caught.value) or "nothing was bought" in str(caught.value).lower()


def test_a_new_process_finds_what_a_killed_one_left_sending(
    server: ContractAPI, clock: FakeClock, tmp_path: Path
) -> None:
    # The first process writes its submission, sends the create, and dies before the answer.
    first = make_client("sync", server)
    history = first.client.history
    assert history is not None
    server.create_faults.append(raising(httpx.ReadTimeout, bought=True))
    first.client._flows.reconcile_timeout = 0.0
    with pytest.raises(g3.SubmissionUncertain):
        first.submit(image=IMAGE, seed=3)
    first.close()
    dead = dead_pid()
    with sqlite3.connect(history.path) as conn:  # as kill -9 leaves it: 'sending', a dead pid
        conn.execute("UPDATE submissions SET state = 'sending', pid = ?", (dead,))
    clock.advance(60)

    # A new process resolves it on first use, before buying anything of its own.
    later = make_client("async", server)
    try:
        (found,) = later.reconcile()
        assert found.id in server.jobs and found.seed == 3
        assert [row["state"] for row in submissions(later).values()] == ["bought"]
        assert server.bought == 1 and server.counts["creates"] == 1
    finally:
        later.close()


# -- the job runner and the panel -----------------------------------------------------------


def test_the_runner_checks_the_logs_then_follows_the_generation_it_finds(
    harness: Harness,
) -> None:
    api, runner = harness.contract_runner(logs_lag=4.0)
    api.create_faults.append(lost("dropped"))
    job = runner.submit(g3.GenerationRequest(image=png_bytes(), prompt="lost", seed=8))
    generation = job.wait(timeout=30)
    assert generation.ok and generation.id in api.jobs and job.exception is None
    assert api.counts["logs"] >= 1  # found there, not by asking again
    assert api.bought == 1 and api.counts["creates"] == 1
    assert generation.local_path is not None and generation.local_path.is_file()


def test_the_runner_reports_uncertain_and_a_later_runner_finds_it(
    harness: Harness, clock: FakeClock
) -> None:
    api, runner = harness.contract_runner(
        client_options={"reconcile_timeout": 20.0}, logs_lag=300.0
    )
    api.create_faults.append(lost("500"))
    job = runner.submit(g3.GenerationRequest(image=png_bytes(), prompt="lost", seed=8))
    with pytest.raises(g3.SubmissionUncertain):
        job.wait(timeout=30)
    assert job.state is JobState.UNCERTAIN and job.generation is None
    assert "NOT sent again" in (job.message or "") and "20 s" in (job.message or "")
    history = runner.client.history
    assert history is not None
    (entry,) = history.unresolved(runner.server)
    assert "500" in (entry.cause or "")
    assert api.bought == 1 and api.counts["creates"] == 1

    clock.advance(600)  # a later session, once the logs show it
    later = harness.runner(harness.client(api.transport()))
    next_job = later.submit(g3.GenerationRequest(image=png_bytes(), seed=9))
    assert next_job.wait(timeout=30).ok
    resumed = [j for j in later.jobs if j is not next_job]
    assert len(resumed) == 1 and resumed[0].label == "found in the usage logs"
    assert resumed[0].wait(timeout=30).ok
    assert resumed[0].generation is not None and resumed[0].generation.seed == 8
    assert api.bought == 2 and api.counts["creates"] == 2  # the new job, and nothing else


@pytest.mark.parametrize("fault", ["dropped", "500"])
def test_the_panel_says_the_purchase_is_uncertain_and_what_to_check(
    harness: Harness, fault: str
) -> None:
    from gen3widgets.widgets.panel import GenerationPanel

    api, runner = harness.contract_runner(
        client_options={"reconcile_timeout": 10.0}, logs_lag=300.0
    )
    api.create_faults.append(lost(fault))
    panel = GenerationPanel(runner, prompt="lost", image=png_bytes(), seed=3)
    job = panel.submit()
    with pytest.raises(g3.SubmissionUncertain):
        panel.wait(30)
    assert job.state is JobState.UNCERTAIN
    view = panel.card.view
    assert (view["chip"], view["tone"]) == ("maybe bought", "warning")
    message = " ".join(view["message"])
    assert "may or may not have been bought" in message
    assert "NOT sent again" in message and "reconcile()" in message
    assert view["progress"] is None  # no bar once it stopped
    assert "Traceback" not in message
    # The panel does not buy again by itself; pressing Generate again is the user's call.
    assert not panel.generate.disabled
    assert panel.submit() is job  # "Run All" again: the same job, not a second purchase
    assert api.counts["creates"] == 1 and api.bought == 1
    panel.close()


def test_a_lost_answer_over_a_real_socket_is_found_too(clock: FakeClock) -> None:
    contract = ContractAPI(clock, logs_lag=3.0)
    contract.create_faults.append(raising(httpx.RemoteProtocolError, bought=True))
    with ServedContract(contract) as served:
        client = g3.Client(KEY, base_url=served.url, timeout=5.0)
        client._flows.clock = clock
        with Api(client) as api:
            generation = api.submit(image=IMAGE)
    assert generation.id in contract.jobs
    assert contract.counts["creates"] == 1 and contract.bought == 1


# -- nobody there, or nobody answering -------------------------------------------------


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SilentServer:
    """Accepts TCP connections on 127.0.0.1, reads each request line, and never answers."""

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = int(self._listener.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.connections: list[socket.socket] = []
        self.requests: list[str] = []  # the first line of each request
        self._stopping = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            conn, _ = self._listener.accept()
            if self._stopping:
                conn.close()
                return
            self.connections.append(conn)  # held open, never answered
            conn.settimeout(5)
            try:
                head = conn.recv(65536)
            except OSError:
                head = b""
            self.requests.append(head.split(b"\r\n", 1)[0].decode(errors="replace"))

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


def network_client(kind: str, url: str, clock: FakeClock, **kwargs: Any) -> Api:
    # The fake clock takes the backoff sleeps: only the network waits are real.
    cls = g3.Client if kind == "sync" else g3.AsyncClient
    client = cls(KEY, base_url=url, **kwargs)
    client._flows.clock = clock
    return Api(client)


def test_a_dead_port_is_a_transport_error_and_nothing_was_bought(
    kind: str, clock: FakeClock
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with (
        network_client(kind, url, clock, timeout=2.0) as api,
        pytest.raises(g3.TransportError, match="Nothing was sent or bought") as caught,
    ):
        api.submit(image=IMAGE)
    assert "AIMLAPI_BASE_URL" in str(caught.value)
    history = api.client.history
    assert history is not None
    assert [row["state"] for row in history.submissions()] == ["refused"]
    assert history.entries() == []  # nothing bought, nothing uncertain
    with network_client(kind, url, clock, timeout=2.0) as api, pytest.raises(g3.TransportError):
        api.get("gen-1")
    # A refused connection is safe to retry: the backoff was used (on the fake clock).
    assert len(clock.sleeps) >= 2 * 4


def test_a_status_request_that_fails_names_the_generation(kind: str, clock: FakeClock) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with (
        network_client(kind, url, clock, timeout=2.0) as api,
        pytest.raises(g3.TransportError) as caught,
    ):
        api.get("gen-1")
    assert "gen-1" in str(caught.value)


def test_a_server_that_never_answers_a_create_is_uncertain_within_the_timeout(
    kind: str, clock: FakeClock, silent: SilentServer
) -> None:
    api = network_client(kind, silent.url, clock, timeout=0.3, max_retries=0, reconcile_timeout=0)
    with api, pytest.raises(g3.SubmissionUncertain, match="ReadTimeout") as caught:
        api.submit(image=IMAGE)
    creates = [line for line in silent.requests if line.startswith("POST")]
    assert len(creates) == 1  # sent once, never again
    assert caught.value.submission_id is not None
    assert clock.sleeps == []  # nothing was retried


def test_a_server_that_never_answers_a_get_is_a_transport_error_after_retries(
    kind: str, clock: FakeClock, silent: SilentServer
) -> None:
    api = network_client(kind, silent.url, clock, timeout=0.2, max_retries=2)
    with api, pytest.raises(g3.TransportError, match="ReadTimeout"):
        api.get("gen-1")
    assert len(silent.requests) == 3  # GETs are free: tried, retried twice, then reported
    assert len(clock.sleeps) == 2


def test_the_panel_on_a_dead_server_shows_a_clear_error(harness: Harness) -> None:
    from gen3widgets.widgets.panel import GenerationPanel

    url = f"http://127.0.0.1:{free_port()}"
    client = harness.client(httpx.AsyncHTTPTransport(), base_url=url, timeout=2.0)
    runner = harness.runner(client)
    panel = GenerationPanel(runner, prompt="nobody home", image=png_bytes())
    job = panel.submit()
    with pytest.raises(g3.TransportError):
        panel.wait(30)
    assert job.state is JobState.REFUSED
    message = " ".join(panel.card.view["message"])
    assert "Could not get an answer" in message and "Nothing was sent or bought" in message
    assert panel.card.view["chip"] == "not bought"
    assert not panel.generate.disabled
    history = client.history
    assert history is not None and history.entries() == []
    assert [row["state"] for row in history.submissions()] == ["refused"]
    panel.close()
