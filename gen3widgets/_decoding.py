"""Where video is decoded, so that a kernel's memory does not grow with the clips it saves.

* ``first_frame_problem(path)``: whether a downloaded clip decodes, checked for
  every download, in a short-lived child process (``python -m
  gen3widgets._decoding PATH``, ~0.15 s). Importing PyAV and opening one
  decoder costs a process tens of MB that it keeps: the kernel never pays it.
* ``decoded(work, ...)``: decoding asked for by the user (a clip's last
  frame, stills), in this process but on one thread. FFmpeg's buffers freed in
  a worker thread stay in that thread's own malloc arena: decoding 16 clips on
  asyncio's worker threads grew a process by ~35 MB, on one thread by ~3 MB
  (measured with realistic 6 MB clips).
"""

from __future__ import annotations

import concurrent.futures
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
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


CHECK_TIMEOUT = 60.0  # one frame of one clip: far longer means the child is stuck


def first_frame_problem(path: Path) -> str | None:
    """Why ``path``'s first frame does not decode (None when it does), in a child process."""
    command = [sys.executable, "-m", "gen3widgets._decoding", str(path)]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=CHECK_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        return f"checking that it decodes took longer than {CHECK_TIMEOUT:g} s"
    except OSError as exc:  # no interpreter to start: check here rather than not at all
        return decoded(decode_first_frame, path) if sys.executable else str(exc)
    if done.returncode != 0:
        said = done.stderr.strip().splitlines()
        return said[-1] if said else f"the decoding check stopped (exit {done.returncode})"
    return done.stdout.strip() or None


def decode_first_frame(path: Path) -> str | None:
    """Why ``path``'s first frame does not decode, decoding it here (None when it does)."""
    from ._images import short_text

    try:
        import av
    except ImportError:  # pragma: no cover - PyAV is a dependency
        return None
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return "it has no video stream"
            for _frame in container.decode(video=0):
                return None
    except (av.error.FFmpegError, OSError, ValueError, IndexError) as exc:
        return f"its first frame could not be decoded ({short_text(str(exc), 80)})"
    return "it has no decodable frame"


if __name__ == "__main__":
    print(decode_first_frame(Path(sys.argv[1])) or "")
