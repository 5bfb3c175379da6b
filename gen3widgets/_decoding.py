"""Where video is decoded, so that a kernel's memory does not grow with the clips it saves.

* ``first_frame_problem(path)``: whether a downloaded clip decodes, checked for
  every download, in a helper process kept for the purpose (``python -m
  gen3widgets._decoding --serve``; a few ms a clip once started). Importing
  PyAV and opening one decoder costs a process tens of MB that it keeps: the
  kernel never pays it.
* ``decoded(work, ...)``: decoding asked for by the user (a clip's last
  frame, stills), in this process but on one thread. FFmpeg's buffers freed in
  a worker thread stay in that thread's own malloc arena: decoding 16 clips on
  asyncio's worker threads grew a process by ~35 MB, on one thread by ~3 MB
  (measured with realistic 6 MB clips).
"""

from __future__ import annotations

import atexit
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


CHECK_TIMEOUT = 60.0  # one frame of one clip: far longer means the checker is stuck


class _Checker:
    """A helper process that answers "does this clip decode?" for each path it is sent.

    Started on first use and kept (a new process per clip would cost ~0.15 s of
    start-up each); it ends when this process closes its stdin, i.e. exits. One
    question at a time; a checker that dies or hangs is replaced.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None

    def check(self, path: Path) -> str | None:
        with self._lock:
            for attempt in (1, 2):  # a checker found dead is replaced once
                process = self._running()
                assert process.stdin is not None and process.stdout is not None
                try:
                    process.stdin.write(str(path) + "\n")
                    process.stdin.flush()
                    answer = _read_line(process, CHECK_TIMEOUT)
                except (OSError, TimeoutError) as exc:
                    self._stop()
                    if attempt == 2 or isinstance(exc, TimeoutError):
                        return f"checking that it decodes failed ({exc or type(exc).__name__})"
                    continue
                if answer is None:  # it died (a decoder crash on this very file?)
                    self._stop()
                    if attempt == 2:
                        return "the decoding check stopped on this file"
                    continue
                return answer or None
        return None  # pragma: no cover - the loop always returns

    def _running(self) -> subprocess.Popen[str]:
        if self._process is None or self._process.poll() is not None:
            if self._process is None:
                atexit.register(self.close)
            else:
                self._stop()  # it died: its pipes go with it
            self._process = subprocess.Popen(
                [sys.executable, "-m", "gen3widgets._decoding", "--serve"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                bufsize=1,
            )
        return self._process

    def close(self) -> None:
        """End the helper (closing its input ends it); at exit."""
        with self._lock:
            process, self._process = self._process, None
        if process is None:
            return
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            process.wait()
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    stream.close()


def _read_line(process: subprocess.Popen[str], timeout: float) -> str | None:
    """The checker's next answer (None: it closed its output), or ``TimeoutError``."""
    import selectors

    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise TimeoutError(f"no answer in {timeout:g} s")
    line = process.stdout.readline()
    return line.rstrip("\n") if line else None


_checker = _Checker()


def first_frame_problem(path: Path) -> str | None:
    """Why ``path``'s first frame does not decode (None when it does), in the helper process."""
    if not sys.executable:  # embedded without an interpreter to start: check here
        return decoded(decode_first_frame, path)
    if sys.platform == "win32":  # no waiting on a pipe with a timeout there: one process a clip
        return _check_once(path)
    return _checker.check(path)


def _check_once(path: Path) -> str | None:
    command = [sys.executable, "-m", "gen3widgets._decoding", str(path)]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=CHECK_TIMEOUT, check=False
        )
    except (subprocess.TimeoutExpired, OSError) as exc:
        return f"checking that it decodes failed ({exc})"
    if done.returncode != 0:
        return "the decoding check stopped on this file"
    return done.stdout.strip() or None


def decode_first_frame(path: Path) -> str | None:
    """Why ``path``'s first frame does not decode, decoding it here (None when it does)."""
    from ._text import short_text

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


def _serve() -> None:
    """The helper process: one path per line in, one answer per line out ("" = it decodes)."""
    for line in sys.stdin:
        answer = decode_first_frame(Path(line.rstrip("\n"))) or ""
        print(answer.replace("\n", " "), flush=True)


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        _serve()
    else:
        print(decode_first_frame(Path(sys.argv[1])) or "")
