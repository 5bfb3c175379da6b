"""One thread for decoding video in this process, so a kernel's memory stays flat.

FFmpeg allocates a few MB of buffers per decoder. Freed in a worker thread,
glibc keeps them in that thread's own malloc arena instead of giving them
back: decoding 16 clips on asyncio's worker threads grew a kernel by ~35 MB,
on one thread by ~3 MB (measured with realistic 6 MB clips). So every
short decode of the library (a downloaded clip's first frame, a clip's last
frame) runs here, one at a time; callers on any thread wait for it.
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_executor: concurrent.futures.ThreadPoolExecutor | None = None
_lock = threading.Lock()
_thread_ident: int | None = None


def _mark() -> None:
    global _thread_ident
    _thread_ident = threading.get_ident()


def decoded(work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``work(*args, **kwargs)`` run on the decoding thread; its result (or its exception)."""
    global _executor
    if threading.get_ident() == _thread_ident:
        return work(*args, **kwargs)  # already there (a decode calling another)
    with _lock:
        if _executor is None:
            _executor = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix="gen3widgets-decode", initializer=_mark
            )
        executor = _executor
    return executor.submit(work, *args, **kwargs).result()
