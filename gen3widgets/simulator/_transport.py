"""httpx transports that carry requests to an in-process ASGI app.

``httpx.ASGITransport`` ignores timeouts and only serves ``AsyncClient``. The
simulator's slow-answer fault needs the first to mean anything, and sync
clients need the second.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import anyio
import httpx

T = TypeVar("T")


class TimeoutASGITransport(httpx.ASGITransport):
    """``httpx.ASGITransport`` that raises ``httpx.ReadTimeout`` like a socket would.

    The read timeout bounds the wait for the whole answer (a socket would
    bound each read); close enough for answers that arrive in one piece.
    """

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {}).get("read")
        if timeout is None:
            return await super().handle_async_request(request)
        try:
            with anyio.fail_after(timeout):
                return await super().handle_async_request(request)
        except TimeoutError:
            raise httpx.ReadTimeout(f"no answer within {timeout} s", request=request) from None


class LoopThread:
    """An asyncio event loop running on a daemon thread, started on first use."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the loop and wait for its result in this thread."""
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(
                    target=self._loop.run_forever, name=self._name, daemon=True
                )
                self._thread.start()
            future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # e.g. KeyboardInterrupt in a notebook cell: stop the request too
            raise

    def close(self) -> None:
        """Cancel what still runs there, stop the loop and join its thread."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(_cancel_other_tasks(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


class SimulatorTransport(httpx.BaseTransport):
    """A sync transport running an async one on a ``LoopThread`` (which it does not own)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, loop: LoopThread) -> None:
        self._inner = inner
        self._loop = loop

    async def _send(self, request: httpx.Request) -> tuple[int, Any, bytes, dict[str, Any]]:
        response = await self._inner.handle_async_request(request)
        try:
            body = b"".join([chunk async for chunk in response.aiter_raw()])
        finally:
            await response.aclose()
        return response.status_code, response.headers.raw, body, dict(response.extensions)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        # Re-wrap the body as bytes: a sync request's stream may not be async-iterable.
        copy = httpx.Request(
            request.method,
            request.url,
            headers=request.headers,
            content=request.read(),
            extensions=request.extensions,
        )
        status, headers, body, extensions = self._loop.run(self._send(copy))
        return httpx.Response(
            status, headers=headers, stream=httpx.ByteStream(body), extensions=extensions
        )


async def _cancel_other_tasks() -> None:
    """Cancel what is still running on this loop (abandoned requests), and let it unwind."""
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
