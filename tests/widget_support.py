"""Shared pieces of the widget tests: fake APIs, runners and simulators that are closed.

Widgets are tested without a kernel, through their traits and ``button.click()``.
The ``JobRunner`` then runs its jobs on a private loop thread; the client and the
server double share a ``FakeClock``, so jobs finish without anything really sleeping.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import ipywidgets
import pytest
import traitlets

from gen3widgets._client import AsyncClient, Client
from gen3widgets._jobs import JobRunner
from tests.contract_api import ContractAPI
from tests.fakes import FakeClock, fake_render, png_bytes, tiny_mp4, tune

BASE = "http://sim.test"
KEY = "sk-test-widgets"
XSS = "<img src=x onerror=alert(1)>"

__all__ = [
    "BASE",
    "KEY",
    "XSS",
    "CountingMock",
    "FrontEnd",
    "GatedTransport",
    "Harness",
    "failing_api",
    "fake_render",
    "harness",
    "lost_video_api",
    "png_bytes",
    "tiny_mp4",
    "until",
    "until_state",
    "upload",
    "uploaded",
    "widget_tree",
]


def widget_tree(widget: ipywidgets.Widget) -> list[ipywidgets.Widget]:
    """``widget`` and every widget its synced traits refer to (children, layout, style)."""
    seen: dict[str, ipywidgets.Widget] = {}
    todo = [widget]
    while todo:
        current = todo.pop()
        if current.model_id in seen:
            continue
        seen[current.model_id] = current
        for name in current.keys:
            value = getattr(current, name)
            values = value if isinstance(value, (tuple, list)) else (value,)
            todo.extend(v for v in values if isinstance(v, ipywidgets.Widget))
    return list(seen.values())


def until(
    widget: ipywidgets.Widget,
    predicate: Callable[[Any], bool],
    *,
    name: str = "value",
    timeout: float = 10.0,
) -> Any:
    """Wait until ``predicate(widget.<name>)`` holds; the trait's value then.

    For what a widget shows once the runner's thread answers (a price, a
    balance): an event set by the trait's observer, never a sleep.
    """
    done = threading.Event()

    def check(_: Any = None) -> None:
        if predicate(getattr(widget, name)):
            done.set()

    widget.observe(check, names=name)
    try:
        check()
        if not done.wait(timeout):
            raise AssertionError(f"{name} never matched; it is {getattr(widget, name)!r}")
    finally:
        widget.unobserve(check, names=name)
    return getattr(widget, name)


def until_state(
    widget: ipywidgets.Widget, check: Callable[[], bool], timeout: float = 30.0
) -> None:
    """Wait for ``check()`` to hold, re-checked on every change of any of ``widget``'s traits.

    For the front-end widgets, whose state is a few dicts that change together.
    """
    changed = threading.Event()

    def wake(_: Any) -> None:
        changed.set()

    widget.observe(wake, names=traitlets.All)
    try:
        while not check():
            assert changed.wait(timeout), "the widget stopped changing before the check held"
            changed.clear()
    finally:
        widget.unobserve(wake, names=traitlets.All)


class FrontEnd:
    """What a browser does with a gen3widgets view: clicks buttons and asks for clips.

    Messages the widget sends are recorded instead of going to a comm (``sent``);
    clips are assembled from their chunks as the front end's JavaScript does.
    """

    def __init__(self, widget: ipywidgets.Widget) -> None:
        self.widget = widget
        self.sent: list[tuple[dict[str, Any], list[bytes]]] = []
        self._arrived = threading.Condition()
        widget.send = self._record  # instead of the comm: no kernel in these tests

    def _record(self, content: dict[str, Any], buffers: Any = None) -> None:
        with self._arrived:
            self.sent.append((content, [bytes(b) for b in buffers or ()]))
            self._arrived.notify_all()

    def click(self, name: str, buffers: list[bytes] | None = None, **content: Any) -> None:
        """A button of the front end: the custom message it sends."""
        self.widget._handle_custom_msg({"type": "action", "name": name, **content}, buffers or [])

    def ask(self, key: Any, request: str = "r1") -> None:
        self.widget._handle_custom_msg({"type": "clip", "key": key, "request": request}, [])

    def replies(self, request: str) -> list[tuple[dict[str, Any], list[bytes]]]:
        with self._arrived:
            return [(c, b) for c, b in self.sent if c.get("request") == request]

    def fetch(self, key: Any, request: str = "r1", timeout: float = 30.0) -> bytes:
        """Ask for the clip ``key``; its bytes once every chunk is in (``ValueError``: refused)."""
        self.ask(key, request)

        def complete() -> bool:
            got = self.replies(request)
            return bool(got) and ("error" in got[-1][0] or len(got) == got[0][0]["count"])

        with self._arrived:
            assert self._arrived.wait_for(complete, timeout), f"no answer to {request}"
        got = self.replies(request)
        if "error" in got[-1][0]:
            raise ValueError(got[-1][0]["error"])
        return b"".join(buffers[0] for _, buffers in sorted(got, key=lambda m: m[0]["index"]))

    def commands(self) -> list[str]:
        return [c["name"] for c, _ in self.sent if c.get("type") == "command"]


def uploaded(data: bytes, name: str = "frame.png") -> tuple[dict[str, Any], ...]:
    """What ``FileUpload.value`` holds once the browser sent the file ``name``."""
    return (
        {
            "name": name,
            "type": "image/png",
            "size": len(data),
            "content": memoryview(data),
            "last_modified": datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc),
        },
    )


def upload(picker: Any, data: bytes, name: str = "frame.png") -> None:
    """What a person does: choose the file in the picker's upload button."""
    picker.upload.value = uploaded(data, name)


def html_text(widget: ipywidgets.Widget) -> str:
    """Every HTML value shown anywhere inside ``widget``, one per line."""
    return "\n".join(w.value for w in widget_tree(widget) if isinstance(w, ipywidgets.HTML))


class GatedTransport(httpx.AsyncBaseTransport):
    """Holds every create until ``gate`` opens, and counts them as they arrive."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.gate = threading.Event()
        self.creates = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            self.creates += 1
            await asyncio.to_thread(self.gate.wait, 30)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


class CountingMock:
    """An ``httpx.MockTransport`` that counts requests and answers with ``handler``."""

    def __init__(self, handler: Callable[[httpx.Request], httpx.Response] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self._handler = handler or (lambda request: httpx.Response(500))
        self.transport = httpx.MockTransport(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self._handler(request)


def failing_api(message: str) -> Callable[[httpx.Request], httpx.Response]:
    """A fake API whose one generation fails with ``message`` as the server's error text."""
    gid = str(uuid.uuid4())

    def handle(request: httpx.Request) -> httpx.Response:
        usage = {"usage": {"credits_used": 500000}}
        if request.method == "POST":
            return httpx.Response(200, json={"id": gid, "status": "queued", "meta": usage})
        if request.url.path != "/v2/video/generations":
            return httpx.Response(404, json={"message": f"Cannot GET {request.url.path}"})
        body = {
            "id": gid,
            "status": "error",
            "meta": usage,
            "video": None,
            "error": {"name": "GenerationError", "message": message},
        }
        return httpx.Response(200, content=json.dumps(body).encode())

    return handle


def lost_video_api(
    video_url: str, back: threading.Event | None = None
) -> Callable[[httpx.Request], httpx.Response]:
    """A fake API whose one generation completes, but whose video host answers 404
    (until ``back`` is set, when given: then it serves a real MP4)."""
    gid = str(uuid.uuid4())

    def handle(request: httpx.Request) -> httpx.Response:
        usage = {"usage": {"credits_used": 500000}}
        if request.method == "POST":
            return httpx.Response(200, json={"id": gid, "status": "queued", "meta": usage})
        if request.url.path.endswith(".mp4"):
            if back is not None and back.is_set():
                mp4 = {"Content-Type": "video/mp4"}
                return httpx.Response(200, content=tiny_mp4(1), headers=mp4)
            return httpx.Response(404, text="gone")
        if request.url.path != "/v2/video/generations":
            return httpx.Response(404, json={"message": f"Cannot GET {request.url.path}"})
        body = {"id": gid, "status": "completed", "meta": usage, "video": {"url": video_url}}
        return httpx.Response(200, json=body)

    return handle


class Harness:
    """Makes server doubles and runners for one test and closes them all afterwards."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self._runners: list[JobRunner] = []
        self._sims: list[Any] = []

    def simulator(self, **options: Any) -> Any:
        """The project's in-process simulator on the test's clock, with instant renders."""
        from gen3widgets.simulator import Simulator

        options.setdefault("clock", self.clock.now)
        options.setdefault("render", fake_render)
        options.setdefault("job_seconds", (0.05, 0.1))
        sim = Simulator(**options)
        self._sims.append(sim)
        return sim

    def client(
        self, transport: httpx.AsyncBaseTransport, *, kind: str = "async", **kwargs: Any
    ) -> Any:
        """An ``AsyncClient`` (``kind="sync"``: a ``Client``) on the test's clock."""
        kwargs.setdefault("base_url", BASE)
        cls = AsyncClient if kind == "async" else Client
        client = cls(KEY, transport=transport, **kwargs)
        tune(client, self.clock)
        return client

    def runner(
        self, transport: httpx.AsyncBaseTransport | AsyncClient | Client, **kwargs: Any
    ) -> JobRunner:
        """A runner on its own loop thread for a client (made here on ``transport``)."""
        clients = (AsyncClient, Client)
        client = transport if isinstance(transport, clients) else self.client(transport)
        runner = JobRunner(client, **kwargs)
        self._runners.append(runner)
        return runner

    def sim_runner(self, **options: Any) -> tuple[Any, JobRunner]:
        sim = self.simulator(**options)
        return sim, self.runner(sim.async_transport())

    def contract(self, **options: Any) -> ContractAPI:
        """The independent contract imitation on the test's clock (short jobs by default)."""
        options.setdefault("job_seconds", 2.0)
        options.setdefault("logs_lag", 1.0)
        return ContractAPI(self.clock, **options)

    def contract_runner(
        self, client_options: dict[str, Any] | None = None, **options: Any
    ) -> tuple[ContractAPI, JobRunner]:
        """The contract imitation and a runner whose client speaks to it."""
        api = self.contract(**options)
        client = self.client(api.transport(), **(client_options or {}))
        return api, self.runner(client)

    def close(self) -> None:
        for runner in self._runners:
            runner.close()
        for sim in self._sims:
            sim.close()


@pytest.fixture
def harness(clock: FakeClock) -> Iterator[Harness]:
    h = Harness(clock)
    yield h
    h.close()
