"""Small renditions of a saved clip, made once and kept beside it.

For ``videos/<id>.mp4`` this makes

* ``videos/<id>.preview.mp4``: H.264 (``yuv420p``), about 480 px on the long
  side, aimed at about 1 Mbit/s and at no more than the clip's own rate, the
  same frame rate and frame count, a keyframe every half second so that
  scrubbing a grid of them stays smooth, the index at the front (``+faststart``);
* ``videos/<id>.poster.jpg``: the clip's middle frame at the preview's size.
  Image-to-video clips all start on the same first frame, so the middle frame
  is where a grid's seeds differ. Its JPEG comment carries the clip's size,
  frame rate and length (``ClipInfo``), so a view never opens the video.

A grid shows posters at once and plays previews: a 10 s clip of 6–7 MB
becomes a preview of about 1.3 MB and a poster of a few tens of KB. The full
clip is only sent when someone asks for full resolution.

The poster is written as soon as the middle frame is decoded, before the
preview is done, and ``ensure_previews(video, on_poster=...)`` hears of it
then: a view shows the still at once and plays the preview once it exists.

``ensure_previews`` is idempotent (fresh files are kept), safe to call from
several threads at once (one maker per clip, the others wait for it),
writes each file atomically (a hidden temporary file, then a rename), and
never raises for a bad clip: it returns what it could make and logs why
not. The decoding and encoding run in a short-lived child process
(``python -m gen3widgets._previews CLIP``), about a second of
CPU per 10 s clip: FFmpeg's and x264's buffers are freed with the process,
so the kernel's memory does not grow with the number of clips. Still, it
blocks its caller meanwhile: call it off the event loop (``asyncio.to_thread``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
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
# Decoding the full clip is most of the work (~0.6 s of a 10 s 1280x768 clip here).
# x264's "ultrafast" then costs ~0.15 s less than "superfast", with no difference to
# see at 480 px; so does skipping the decoder's deblocking filter, whose effect the
# downscale smooths away anyway: ~20 % less CPU per clip in all.
PRESET = "ultrafast"
DECODER_OPTIONS = {"skip_loop_filter": "all"}
POSTER_QUALITY = 80
DEFAULT_FPS = Fraction(24)


def _cores() -> int:
    """The CPU cores this process may use."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


# A 10 s clip takes about a second; far longer means the child is stuck.
MAKER_TIMEOUT = 300.0
# Makers running at once: one per core (up to 4) keeps every core busy when many clips
# finish together (measured on 2 cores: the last of 16 done ~2 s sooner than one at a time).
_makers = threading.BoundedSemaphore(max(1, min(4, _cores())))

PREVIEW_SUFFIX = ".preview.mp4"
POSTER_SUFFIX = ".poster.jpg"
# The child's line on its standard output once the poster is in place.
POSTER_READY = "poster"


@dataclass(frozen=True)
class ClipInfo:
    """What a view needs to know of the full clip (kept in its poster's JPEG comment)."""

    width: int
    height: int
    fps: float
    duration: float


@dataclass(frozen=True)
class Previews:
    """What exists for one clip; ``None`` where a file could not be made (``problem`` says why)."""

    video: Path
    preview: Path | None = None
    poster: Path | None = None
    info: ClipInfo | None = None  # read from the poster
    problem: str | None = None


def preview_path(video: Path) -> Path:
    """Where the preview of ``video`` lives: ``<stem>.preview.mp4`` beside it."""
    return video.with_name(video.stem + PREVIEW_SUFFIX)


def poster_path(video: Path) -> Path:
    """Where the poster of ``video`` lives: ``<stem>.poster.jpg`` beside it."""
    return video.with_name(video.stem + POSTER_SUFFIX)


def existing_previews(video: Path) -> Previews:
    """The previews of ``video`` that exist and are newer than it (no work is done)."""
    poster = poster_path(video) if _fresh(poster_path(video), video) else None
    return Previews(
        video,
        preview_path(video) if _fresh(preview_path(video), video) else None,
        poster,
        _read_info(poster) if poster is not None else None,
    )


def ensure_previews(video: Path, on_poster: Callable[[Previews], None] | None = None) -> Previews:
    """Make the preview and the poster of ``video`` unless fresh ones exist; never raises.

    Blocks for about a second per 10 s clip: call it in a worker thread.
    ``on_poster`` is called on this thread with what exists once the poster is
    in place, while the preview is still being made (not when both were fresh);
    what it raises is logged, and the making goes on.
    """
    video = Path(video)
    with _lock_for(video):
        found = existing_previews(video)
        if found.preview is not None and found.poster is not None:
            return found

        def heard(line: str) -> None:
            if line != POSTER_READY or on_poster is None:
                return
            try:
                on_poster(existing_previews(video))
            except Exception:
                log.exception("A poster listener failed for %s", video)

        with _makers:
            problem = _run_maker(video, heard)
        made = existing_previews(video)
        if problem is None and (made.preview is None or made.poster is None):
            problem = "the preview maker made nothing"
        if problem is not None:
            log.warning("Could not make a preview of %s: %s", video, problem)
            return Previews(video, made.preview, made.poster, made.info, problem)
        return made


# -- the child process ---------------------------------------------------------------------------


def _run_maker(video: Path, heard: Callable[[str], None]) -> str | None:
    """Make the previews of ``video`` in a child process, passing each line it prints to
    ``heard`` as it comes; why not, or ``None`` when made."""
    if not sys.executable:
        return "no Python interpreter to make previews with"
    command = [sys.executable, "-m", "gen3widgets._previews", str(video)]
    # Its error output goes to a file: a pipe nobody reads while the child talks on
    # the other one could fill up and stall it.
    with tempfile.TemporaryFile() as errors:
        try:
            child = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=errors, stdin=subprocess.DEVNULL
            )
        except OSError as exc:
            return f"the preview maker could not start ({exc.strerror or exc})"
        stuck = threading.Event()

        def stop() -> None:
            stuck.set()
            child.kill()

        watchdog = threading.Timer(MAKER_TIMEOUT, stop)
        watchdog.daemon = True
        watchdog.start()
        try:
            assert child.stdout is not None
            with child.stdout:
                for line in child.stdout:
                    heard(line.decode("utf-8", "replace").strip())
            code = child.wait()
        finally:
            watchdog.cancel()
            if child.poll() is None:  # the listener raised: never leave the child behind
                child.kill()
                child.wait()
        if stuck.is_set():
            return f"the preview maker took longer than {MAKER_TIMEOUT:g} s"
        if code == 0:
            return None
        errors.seek(0)
        said = errors.read().decode("utf-8", "replace").strip().splitlines()
    return said[-1] if said else f"the preview maker stopped (exit code {code})"


def main(argv: list[str]) -> int:
    """The child: make the previews of the clip ``argv[0]``, printing ``POSTER_READY`` once
    the poster is in place; its last stderr line says why not."""
    try:
        _make(Path(argv[0]))
    except Exception as exc:
        print(_reason(exc), file=sys.stderr)
        return 1
    return 0


# -- making them ------------------------------------------------------------------------------


def _make(video: Path) -> None:
    import av

    with av.open(str(video)) as source:
        if not source.streams.video:
            raise ValueError("the file has no video track")
        stream = source.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.options = DECODER_OPTIONS
        fps = Fraction(stream.average_rate) if stream.average_rate else DEFAULT_FPS
        width, height = _preview_size(stream.codec_context.width, stream.codec_context.height)
        duration = _seconds(source, stream)
        frames = stream.frames or (round(duration * fps) if duration else 0)
        rate = _bit_rate(video.stat().st_size, duration)
        info = ClipInfo(
            stream.codec_context.width, stream.codec_context.height, float(fps), duration
        )

        def save_poster(poster: PILImage.Image) -> None:
            with _atomic(poster_path(video), video) as temp:
                comment = json.dumps(asdict(info)).encode()
                poster.save(
                    temp, format="JPEG", quality=POSTER_QUALITY, optimize=True, comment=comment
                )
            print(POSTER_READY, flush=True)

        with _atomic(preview_path(video), video) as temp:
            _transcode(source, stream, temp, (width, height), fps, rate, frames // 2, save_poster)


def _transcode(
    source: Any,
    stream: Any,
    target: Path,
    size: tuple[int, int],
    fps: Fraction,
    rate: int,
    poster_at: int,
    save_poster: Callable[[PILImage.Image], None],
) -> None:
    """Encode the preview into ``target``; the frame at ``poster_at`` goes to ``save_poster``
    as soon as it is decoded (the first frame, once all are, if the clip is shorter than
    its header said)."""
    import av
    from av.video.reformatter import VideoReformatter

    width, height = size
    first: PILImage.Image | None = None
    saved = False
    # One scaler for every frame: ``frame.reformat`` builds a new one per frame, which
    # doubled the scaling's cost (~0.13 s more CPU per 10 s clip).
    scaler = VideoReformatter()
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
            small = scaler.reformat(
                frame, width=width, height=height, format="yuv420p", interpolation="AREA"
            )
            small.pts, small.time_base = count, time_base  # constant frame rate, from 0
            if count == poster_at and not saved:
                save_poster(small.to_image())  # type: ignore[no-untyped-call]  # untyped in PyAV
                saved = True
            elif count == 0:
                first = small.to_image()  # type: ignore[no-untyped-call]
            out.mux(encoder.encode(small))
        out.mux(encoder.encode(None))
    if not saved:
        if first is None:
            raise ValueError("the video track has no frames")
        save_poster(first)


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
    """The rate to aim at: about 1 Mbit/s, but not above the clip's own (a thin clip stays thin)."""
    if duration <= 0:
        return PREVIEW_BIT_RATE
    return max(MIN_PREVIEW_BIT_RATE, min(PREVIEW_BIT_RATE, int(size * 8 / duration)))


# -- files and locks -----------------------------------------------------------------------------


def _read_info(poster: Path) -> ClipInfo | None:
    """The clip's size, rate and length from its poster's comment (the header only is read)."""
    from PIL import Image

    try:
        with Image.open(poster) as image:
            said = json.loads(image.info.get("comment", b"{}"))
        return ClipInfo(
            int(said["width"]), int(said["height"]), float(said["fps"]), float(said["duration"])
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None  # an older or foreign poster: the view falls back to the request's size


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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
