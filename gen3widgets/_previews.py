"""Small renditions of a saved clip, made once and kept beside it.

For ``videos/<id>.mp4`` this makes

* ``videos/<id>.preview.mp4``: H.264 (``yuv420p``), about 480 px on the long
  side, about 1 Mbit/s (never more than the clip itself), the same frame rate
  and frame count, a keyframe every half second so that scrubbing a grid of
  them stays smooth, the index at the front (``+faststart``);
* ``videos/<id>.poster.jpg``: the clip's middle frame at the preview's size.
  Image-to-video clips all start on the same first frame, so the middle frame
  is where a grid's seeds differ.

A grid shows posters at once and plays previews: a 10 s clip of 6–7 MB
becomes a preview of about 1.2 MB and a poster of a few tens of KB. The full
clip is only sent when someone asks for full resolution.

``ensure_previews`` is idempotent (fresh files are kept), safe to call from
several threads at once (one maker per clip, the others wait for it),
writes each file atomically (a hidden temporary file, then a rename), and
never raises for a bad clip: it returns what it could make and logs why
not. It decodes and encodes for about a second of CPU per 10 s clip, so call
it off the event loop (``asyncio.to_thread``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL import Image as PILImage

log = logging.getLogger("gen3widgets")

PREVIEW_LONG_SIDE = 480
PREVIEW_BIT_RATE = 1_000_000
# Below this the preview would look like mush; a clip this thin is rare.
MIN_PREVIEW_BIT_RATE = 250_000
# Seeking decodes from the previous keyframe: half a second keeps a 16-video scrub smooth.
KEYFRAME_SECONDS = 0.5
# x264's "superfast" takes ~0.7 s for a 10 s 1280x768 clip here; slower presets gain
# little at 480 px.
PRESET = "superfast"
POSTER_QUALITY = 80
DEFAULT_FPS = Fraction(24)

PREVIEW_SUFFIX = ".preview.mp4"
POSTER_SUFFIX = ".poster.jpg"


@dataclass(frozen=True)
class Previews:
    """What exists for one clip; ``None`` where a file could not be made (``problem`` says why)."""

    video: Path
    preview: Path | None = None
    poster: Path | None = None
    problem: str | None = None


def preview_path(video: Path) -> Path:
    """Where the preview of ``video`` lives: ``<stem>.preview.mp4`` beside it."""
    return video.with_name(video.stem + PREVIEW_SUFFIX)


def poster_path(video: Path) -> Path:
    """Where the poster of ``video`` lives: ``<stem>.poster.jpg`` beside it."""
    return video.with_name(video.stem + POSTER_SUFFIX)


def existing_previews(video: Path) -> Previews:
    """The previews of ``video`` that exist and are newer than it (no work is done)."""
    return Previews(
        video,
        preview_path(video) if _fresh(preview_path(video), video) else None,
        poster_path(video) if _fresh(poster_path(video), video) else None,
    )


def ensure_previews(video: Path) -> Previews:
    """Make the preview and the poster of ``video`` unless fresh ones exist; never raises.

    Blocks for about a second per 10 s clip: call it in a worker thread.
    """
    video = Path(video)
    with _lock_for(video):
        found = existing_previews(video)
        if found.preview is not None and found.poster is not None:
            return found
        try:
            _make(video)
        except Exception as exc:  # a bad clip must never break a job or a view
            problem = _reason(exc)
            log.warning("Could not make a preview of %s: %s", video, problem)
            made = existing_previews(video)
            return Previews(video, made.preview, made.poster, problem)
        return existing_previews(video)


# -- making them ------------------------------------------------------------------------------


def _make(video: Path) -> None:
    import av

    with av.open(str(video)) as source:
        if not source.streams.video:
            raise ValueError("the file has no video track")
        stream = source.streams.video[0]
        stream.thread_type = "AUTO"
        fps = Fraction(stream.average_rate) if stream.average_rate else DEFAULT_FPS
        width, height = _preview_size(stream.codec_context.width, stream.codec_context.height)
        duration = _seconds(source, stream)
        frames = stream.frames or (round(duration * fps) if duration else 0)
        rate = _bit_rate(video.stat().st_size, duration)
        with _atomic(preview_path(video), video) as temp:
            poster = _transcode(source, stream, temp, (width, height), fps, rate, frames // 2)
        with _atomic(poster_path(video), video) as temp:
            poster.save(temp, format="JPEG", quality=POSTER_QUALITY, optimize=True)


def _transcode(
    source: Any,
    stream: Any,
    target: Path,
    size: tuple[int, int],
    fps: Fraction,
    rate: int,
    poster_at: int,
) -> PILImage.Image:
    """Encode the preview into ``target``; return the frame at ``poster_at`` as an image."""
    import av

    width, height = size
    poster: PILImage.Image | None = None
    with av.open(str(target), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        encoder = out.add_stream("libx264", rate=fps)
        encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
        encoder.bit_rate = rate
        encoder.options = {
            "preset": PRESET,
            "g": str(max(1, round(float(fps) * KEYFRAME_SECONDS))),
            "maxrate": str(rate * 3 // 2),
            "bufsize": str(rate * 2),
        }
        time_base = 1 / fps
        for count, frame in enumerate(source.decode(stream)):
            small = frame.reformat(width=width, height=height, format="yuv420p")
            small.pts, small.time_base = count, time_base  # constant frame rate, from 0
            if count == poster_at or poster is None:
                poster = small.to_image()
            out.mux(encoder.encode(small))
        out.mux(encoder.encode(None))
    if poster is None:
        raise ValueError("the video track has no frames")
    return poster


def _preview_size(width: int, height: int) -> tuple[int, int]:
    """The long side scaled to ``PREVIEW_LONG_SIDE`` (never up), both sides even (H.264)."""
    if not width or not height:
        raise ValueError("the video track has no frame size")
    scale = min(1.0, PREVIEW_LONG_SIDE / max(width, height))
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def _seconds(source: Any, stream: Any) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return float(source.duration) / 1_000_000 if source.duration else 0.0


def _bit_rate(size: int, duration: float) -> int:
    """About 1 Mbit/s, but never more than the clip's own rate (a preview is never bigger)."""
    if duration <= 0:
        return PREVIEW_BIT_RATE
    return max(MIN_PREVIEW_BIT_RATE, min(PREVIEW_BIT_RATE, int(size * 8 / duration)))


# -- files and locks -----------------------------------------------------------------------------


def _fresh(path: Path, video: Path) -> bool:
    try:
        return path.stat().st_mtime >= video.stat().st_mtime
    except OSError:
        return False


@contextlib.contextmanager
def _atomic(target: Path, like: Path) -> Iterator[Path]:
    """A hidden temporary file beside ``target``, renamed onto it if the block succeeds.

    It gets ``like``'s permissions: a preview is exactly as private as its clip.
    """
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    temp = Path(name)
    try:
        yield temp
        os.chmod(temp, like.stat().st_mode & 0o777)
        os.replace(temp, target)
    finally:
        with contextlib.suppress(OSError):
            temp.unlink()


_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock_for(video: Path) -> threading.Lock:
    key = os.path.normcase(os.path.abspath(video))
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ImportError):
        return "PyAV is not installed (pip install av)"
    said = getattr(exc, "strerror", None)  # OSError, and PyAV's FFmpeg errors
    return str(said or exc) or type(exc).__name__
