"""Clips on demand: the browser names a clip by an opaque key, the kernel sends its bytes.

Video bytes are never widget state. A view that needs a clip sends
``{"type": "clip", "key": ..., "request": ...}``; the widget looks the key up
on its ``ClipShelf`` (keys are random tokens the widget handed out; a path
or file name from the browser is never accepted), reads the file in chunks
of ``CHUNK_BYTES`` and sends each as one custom message with the chunk as its
binary buffer. Nothing of the clip stays in the kernel once sent, so a new
view, or the same page reloaded while the kernel lives, simply asks again.

Other worker threads prepare a finished clip for the views (its previews,
its size and frame rate), so neither reading nor waiting for the preview
maker ever runs on the kernel's event loop, and a clip ready to send never
waits behind clips still being prepared.
"""

from __future__ import annotations

import base64
import concurrent.futures
import logging
import math
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._previews import Previews, ensure_previews

log = logging.getLogger("gen3widgets")

# Well under every front end's message limit, and small enough that one clip
# does not hold up the other messages of the kernel's output channel.
CHUNK_BYTES = 1 << 20
MEDIA_TYPES = {".mp4": "video/mp4", ".jpg": "image/jpeg"}

# Sending reads files and queues messages: quick. Preparing mostly waits for a preview
# maker (a child process, about a second a clip), one per core at most (``_previews``).
_senders = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="gen3widgets-send")
_preparers = concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix="gen3widgets-prepare")


def in_background(work: Callable[[], None], *, sending: bool = False) -> None:
    """Run ``work`` on the widgets' worker threads (``sending``: the senders'); a failure is
    logged, never lost."""

    def run() -> None:
        try:
            work()
        except Exception:
            log.exception("A gen3widgets background task failed")

    (_senders if sending else _preparers).submit(run)


class ClipShelf:
    """The files one widget may send, each under a random key (thread-safe)."""

    def __init__(self) -> None:
        self._paths: dict[str, Path] = {}
        self._keys: dict[Path, str] = {}
        self._lock = threading.Lock()

    def key(self, path: Path) -> str:
        """The key for ``path`` (the same key every time for the same file)."""
        with self._lock:
            key = self._keys.get(path)
            if key is None:
                key = secrets.token_urlsafe(12)
                self._keys[path], self._paths[key] = key, path
            return key

    def path(self, key: object) -> Path | None:
        """The file behind ``key``, or ``None`` for a key this shelf never handed out."""
        with self._lock:
            return self._paths.get(key) if isinstance(key, str) else None


def clip_messages(path: Path, request: str) -> Iterator[tuple[dict[str, Any], bytes]]:
    """The messages that carry ``path`` to the browser: (content, chunk), in order.

    Reads one chunk at a time, so at most ``CHUNK_BYTES`` of the file is in
    memory. An unreadable file gives one message with ``error`` instead.
    """
    kind = MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")
    try:
        size = path.stat().st_size
        count = max(1, math.ceil(size / CHUNK_BYTES))
        with path.open("rb") as file:
            for index in range(count):
                head = {"type": "clip", "request": request, "index": index, "count": count}
                yield {**head, "size": size, "mime": kind}, file.read(CHUNK_BYTES)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        yield {"type": "clip", "request": request, "error": f"cannot read the clip: {reason}"}, b""


@dataclass(frozen=True)
class Media:
    """A finished clip as the views need it: its files and what it looks like."""

    previews: Previews
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    duration: float | None = None
    poster_uri: str | None = None  # the poster as a data: URI (kept in widget state)
    # False while the preview is still being made: the poster may show, no video loads yet
    # (it is not known whether a preview will exist, else the full clip loads for nothing).
    ready: bool = True


def prepare(video: Path, on_poster: Callable[[Media], None] | None = None) -> Media:
    """Previews (made now if missing), size, frame rate and poster of ``video``; never raises.

    Blocks: call it through ``in_background``. ``on_poster`` hears, with a
    ``Media`` that is not ``ready``, as soon as the poster exists while the
    preview is still being made. The clip is never opened here: what is known
    of it comes from its poster (see ``_previews``).
    """

    def early(previews: Previews) -> None:
        if on_poster is not None:
            on_poster(_media(previews, ready=False))

    return _media(ensure_previews(video, on_poster=early), ready=True)


def _media(previews: Previews, *, ready: bool) -> Media:
    info = previews.info
    poster = None
    if previews.poster is not None:
        try:
            data = previews.poster.read_bytes()
            poster = "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")
        except OSError as exc:
            log.warning("Could not read the poster %s: %s", previews.poster, exc)
    if info is None:
        return Media(previews, poster_uri=poster, ready=ready)
    return Media(previews, info.width, info.height, info.fps, info.duration, poster, ready)
