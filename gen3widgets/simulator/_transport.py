"""httpx transports that carry requests to an in-process ASGI app.

``httpx.ASGITransport`` ignores timeouts and only serves ``AsyncClient``. The
simulator's slow-answer fault needs the first to mean anything, and sync
clients need the second.
"""

from __future__ import annotations

from typing import Any

import anyio
import httpx

# The one piece of the package the examiner shares: a loop on a thread knows nothing of the API.
from .._loop import LoopThread


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
