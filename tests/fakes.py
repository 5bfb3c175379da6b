"""Test doubles shared by the suite: clocks, a virtual-time event loop, media, clients, servers.

* ``FakeClock``: time that moves only when something sleeps on it.
* ``VirtualTimeLoop``: an asyncio loop whose time is virtual and jumps to the
  next timer when only timers are pending, so many concurrent jobs with
  sleeps and backoff share one deterministic timeline and run in real
  milliseconds.
* ``png_bytes``, ``tiny_mp4``, ``fake_render``: small real media.
* ``Api`` / ``make_client``: one synchronous face for ``Client`` and
  ``AsyncClient`` (``kind`` is ``"sync"`` or ``"async"``), on a server double.
* ``ServedContract``: the contract imitation behind a real socket on
  127.0.0.1, for clients in other processes (the command line, kernels).
"""

from __future__ import annotations

import asyncio
import functools
import http.server
import inspect
import io
import selectors
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    import gen3widgets as g3
    from tests.contract_api import ContractAPI

KEY = "sk-test-fakes-0123456789abcdef"
IMAGE = "https://images.example.com/cat.png"  # a first frame the client sends as a URL


# -- time ------------------------------------------------------------------------------


class FakeClock:
    """A clock that only moves when something sleeps on it.

    Give ``clock.now`` to a server double and the clock to a client
    (``client._flows.clock = clock``): the client's sleeps advance time for
    both, so a 30 s job finishes in microseconds of real time and nothing in a
    test really sleeps. Concurrent sleepers add up (each sleep moves the one
    clock); for many concurrent jobs use ``VirtualTimeLoop`` instead.
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


class WallClock:
    """Real time for a server double served to other processes (``now`` is ``time.time``)."""

    def now(self) -> float:
        return time.time()


class _VirtualSelector(selectors.BaseSelector):
    """The real selector, except that waiting for nothing but timers takes no real time."""

    def __init__(self) -> None:
        self._real = selectors.DefaultSelector()
        self.loop: VirtualTimeLoop | None = None

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def get_map(self) -> Any:
        return self._real.get_map()

    def close(self) -> None:
        self._real.close()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = self._real.select(0)
        if ready or timeout == 0 or self.loop is None:
            return ready
        if timeout is None:  # no timer at all: only another thread can wake the loop
            return self._real.select(None)
        self.loop.advance(timeout)  # only timers are left: jump to the first one
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop on virtual time: ``time()`` starts at ``start`` and moves only by timers.

    When every task waits on a timer (``asyncio.sleep``, a timeout), the loop
    jumps straight to the earliest one instead of blocking, so a storm of
    jobs with polls, backoff and ``Retry-After`` runs in real milliseconds.
    Work handed to a worker thread (``asyncio.to_thread``: the history's
    sqlite writes) runs at once, in the loop's own thread, so the order of
    events never depends on how threads are scheduled: a run is deterministic.
    (So nothing run that way may wait for the loop: no sync client here.)

    ``clock`` is a ``Clock`` for a client and a server double on this loop.
    """

    def __init__(self, start: float = 1000.0) -> None:
        selector = _VirtualSelector()
        super().__init__(selector)
        selector.loop = self
        self._now = start
        self.clock = LoopClock(self)

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += max(seconds, 0.0)

    def run_in_executor(self, executor: Any, func: Any, *args: Any) -> asyncio.Future[Any]:
        future = self.create_future()
        try:
            future.set_result(func(*args))
        except Exception as exc:
            future.set_exception(exc)
        return future


class LoopClock:
    """The ``Clock`` of a ``VirtualTimeLoop``: its time, its sleeps."""

    def __init__(self, loop: VirtualTimeLoop) -> None:
        self._loop = loop

    def now(self) -> float:
        return self._loop.time()

    def sleep(self, seconds: float) -> None:
        raise RuntimeError("virtual time passes only on the loop: use an AsyncClient")

    async def async_sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))


# -- media -----------------------------------------------------------------------------


def png_bytes(
    size: tuple[int, int] = (64, 36), color: Any = (200, 100, 50), fmt: str = "PNG"
) -> bytes:
    """A small image file's bytes (any Pillow format name)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, fmt)
    return buffer.getvalue()


@functools.cache
def tiny_mp4(seed: int = 0) -> bytes:
    """A real, decodable MP4 (H.264, yuv420p, 64x36, 8 frames at 8 fps), made once per seed.

    Its colours follow ``seed``, so videos of different seeds differ. The video
    index (``moov``) is written after the frames, as a plain muxer does, so a
    copy cut short cannot be decoded: a client's ``ftyp`` check plus a
    first-frame decode tells a whole video from a broken one.
    """
    import av
    import numpy as np

    green = (90 + seed * 37) % 256  # seed 0: the very video the contract imitation serves
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=8)
        stream.width, stream.height, stream.pix_fmt = 64, 36, "yuv420p"
        for i in range(8):
            pixel = (40 + i * 20, green, 160 - i * 10)
            image = np.full((36, 64, 3), pixel, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buffer.getvalue()


def fake_render(spec: Any) -> bytes:
    """A simulator renderer that is instant after the first call per seed: a tiny real MP4."""
    return tiny_mp4(int(spec.seed))


# -- one face for both clients -------------------------------------------------------------


class Api:
    """``Client`` and ``AsyncClient`` behind one blocking face.

    Attribute reads go to the client; a call to an async method is run to
    completion on this face's own loop. ``close()`` closes the client and the loop.
    """

    def __init__(self, client: g3.Client | g3.AsyncClient) -> None:
        self.client = client
        self.loop: asyncio.AbstractEventLoop | None = None
        if not _is_sync(client):
            self.loop = asyncio.new_event_loop()

    @property
    def kind(self) -> str:
        return "async" if self.loop is not None else "sync"

    def run(self, result: Any) -> Any:
        """``result`` itself, or what it gives when awaited (on this face's loop)."""
        if inspect.isawaitable(result):
            assert self.loop is not None
            return self.loop.run_until_complete(_awaited(result))
        return result

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.client, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            return self.run(attr(*args, **kwargs))

        return call

    def close(self) -> None:
        self.run(self.client.close())
        if self.loop is not None:
            self.loop.run_until_complete(self.loop.shutdown_default_executor())
            self.loop.close()
            self.loop = None

    def __enter__(self) -> Api:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def _is_sync(client: Any) -> bool:
    import gen3widgets as g3

    return isinstance(client, g3.Client)


def tune(client: g3.Client | g3.AsyncClient, clock: Any, *, seed: int = 7) -> None:
    """Put a client made by hand on a fake clock, with a repeatable backoff."""
    import random

    from gen3widgets._retry import Backoff

    client._flows.clock = clock
    client._flows.backoff = Backoff(rng=random.Random(seed))


def make_client(
    kind: str,
    server: Any,
    *,
    clock: Any = None,
    backoff: Any = None,
    **kwargs: Any,
) -> Api:
    """A ``Client`` (``kind="sync"``) or ``AsyncClient`` on ``server``, behind ``Api``.

    ``server`` is a ``ContractAPI`` (its ``clock`` becomes the client's), a
    simulator (``sync_transport``/``async_transport``; pass ``clock=``), or an
    ``httpx.MockTransport``.
    ``kwargs`` go to the client (defaults: a test key and the contract's base
    URL); ``backoff`` replaces the client's ``Backoff`` (e.g. a seeded one).
    The caller closes it (or use the ``make_api`` fixture, which does).
    """
    import gen3widgets as g3
    from tests.contract_api import BASE

    if kind not in ("sync", "async"):
        raise ValueError(f"kind must be 'sync' or 'async', not {kind!r}")
    if isinstance(server, (httpx.BaseTransport, httpx.AsyncBaseTransport)):
        transport = server
    elif hasattr(server, "transport"):
        transport = server.transport()
    else:
        transport = server.sync_transport() if kind == "sync" else server.async_transport()
    kwargs.setdefault("api_key", KEY)
    kwargs.setdefault("base_url", BASE)
    cls = g3.Client if kind == "sync" else g3.AsyncClient
    client = cls(transport=transport, **kwargs)
    chosen = clock if clock is not None else getattr(server, "clock", None)
    if chosen is not None:
        client._flows.clock = chosen
    if backoff is not None:
        client._flows.backoff = backoff
    return Api(client)


# -- the contract imitation on a real socket ---------------------------------------------------


class ServedContract:
    """A ``ContractAPI`` served over HTTP on 127.0.0.1, for clients in other processes.

    ``url`` is the base URL to give them (``AIMLAPI_BASE_URL``). The
    imitation's video links (``https://cdn.test/…``) are rewritten to this
    server's ``/cdn/…`` so another process can fetch them. While ``hold`` is
    clear, every create is bought (its log row written) but its answer is held
    back: a create in flight, for tests that interrupt a client mid-create.
    ``held`` is set once a create is being held. Use as a context manager.
    """

    def __init__(self, api: ContractAPI) -> None:
        self.api = api
        self.hold = threading.Event()
        self.hold.set()
        self.held = threading.Event()
        self._lock = threading.Lock()
        served = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                served._serve(self)

            def do_POST(self) -> None:
                served._serve(self)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _serve(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        from tests.contract_api import BASE, CDN

        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        path = handler.path
        target = CDN + path[len("/cdn") :] if path.startswith("/cdn/") else BASE + path
        request = httpx.Request(
            handler.command, target, headers=list(handler.headers.items()), content=body
        )
        try:
            with self._lock:
                response = self.api.handle(request)
                raw = _raw_body(response)
        except httpx.HTTPError:  # a fault that drops the connection
            handler.close_connection = True
            return
        if handler.command == "POST" and not self.hold.is_set():
            self.held.set()
            self.hold.wait(60)
        raw = raw.replace(CDN.encode(), (self.url + "/cdn").encode())
        handler.send_response(response.status_code)
        for name, value in response.headers.items():
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(raw)))
        handler.end_headers()
        try:
            handler.wfile.write(raw)
        except OSError:  # the client is gone (interrupted, killed)
            handler.close_connection = True

    def stop(self) -> None:
        self.hold.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def __enter__(self) -> ServedContract:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _raw_body(response: httpx.Response) -> bytes:
    """The body as it would go on the wire (still compressed, if it is)."""
    try:
        return b"".join(response.iter_raw())
    except httpx.StreamConsumed:  # a body given whole was read when the response was made
        return response.content


# -- other processes -------------------------------------------------------------------------


def dead_pid() -> int:
    """The pid of a process that has exited (and was reaped): what kill -9 leaves behind."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def poll_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll another process's doing until ``condition()`` is truthy, or fail at the deadline.

    Only for what happens in another process (a kernel, a command): there is
    no event to wait on across processes.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)
