"""Event loops the library runs on: a loop on its own thread, and nesting in a kernel's loop.

``LoopThread`` is an asyncio loop on a daemon thread, started on first use:
the job runner's loop in scripts and the command line, and the simulator's
loop for sync transports. ``run_nested`` blocks on a coroutine from inside a
running loop (``panel.wait()`` in a notebook cell).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
_patched: set[int] = set()


class LoopThread:
    """An asyncio event loop running on a daemon thread, started on first use."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._thread_id: int | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop, started if it is not running yet."""
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    self._thread_id = threading.get_ident()
                    ready.set()
                    loop.run_forever()

                self._thread = threading.Thread(target=run, name=self._name, daemon=True)
                self._thread.start()
                ready.wait()
                self._loop = loop
            return self._loop

    def on_thread(self) -> bool:
        """Whether the caller runs on this loop's thread."""
        return self._thread_id == threading.get_ident()

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coroutine`` on the loop; a future for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the loop and wait for its result in this thread."""
        future = self.submit(coroutine)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # e.g. KeyboardInterrupt in a notebook cell: stop the work too
            raise

    def close(self, timeout: float = 10.0) -> None:
        """Cancel what still runs there, let it unwind, stop the loop and join its thread."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
            asyncio.run_coroutine_threadsafe(cancel_other_tasks(), loop).result(timeout)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        if not thread.is_alive():
            loop.close()  # else ResourceWarning: unclosed event loop (and its self-pipe)


async def cancel_other_tasks() -> None:
    """Cancel every other task on the running loop and let each unwind."""
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


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
