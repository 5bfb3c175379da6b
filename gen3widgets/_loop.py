"""Blocking on a coroutine from inside the running kernel loop (``panel.wait()`` in a cell)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
_patched: set[int] = set()


def run_nested(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on ``loop``, which is already running this very call.

    A notebook cell runs inside the kernel's loop, so waiting for a background
    job means turning that loop re-entrantly; nest-asyncio2 makes that legal.
    Only the kernel's loop is patched, and only once, on first use.
    """
    if id(loop) not in _patched:
        import nest_asyncio2

        nest_asyncio2.apply(loop)
        _patched.add(id(loop))
    return loop.run_until_complete(coro)
