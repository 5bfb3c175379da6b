"""Cutting shots into one film: ``cut(clips, path, crossfade=...)`` with PyAV.

When every clip has the same codec parameters (same codec, size, pixel
format, frame rate and stream headers, as shots of one model and ratio do),
their packets are copied into one MP4 with shifted timestamps: no
re-encoding, no loss, in a fraction of a second. Otherwise, or when a
crossfade is asked for, the frames are decoded, blended across each cut for
``crossfade`` seconds, scaled to the first clip's size and encoded once as
H.264 (yuv420p, CRF 18). The result is written to a temporary file and
renamed into place.
"""

from __future__ import annotations

import collections
import contextlib
import math
import os
import tempfile
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

from ._errors import ValidationError

CRF = "18"  # visually lossless for H.264: a cut should not soften the shots


def cut(
    clips: Sequence[str | os.PathLike[str]],
    path: str | os.PathLike[str],
    *,
    crossfade: float = 0.0,
) -> Path:
    """Join ``clips`` in order into one MP4 at ``path``; returns its absolute path.

    ``crossfade`` (seconds) blends each cut; 0 joins them end to end, so the
    film lasts the sum of its shots.
    """
    sources = [Path(c) for c in clips]
    problems = []
    if not sources:
        problems.append("give at least one clip")
    problems += [f"{p} does not exist" for p in sources if not p.is_file()]
    if not (isinstance(crossfade, (int, float)) and math.isfinite(crossfade) and crossfade >= 0):
        problems.append(f"crossfade must be 0 or more seconds, not {crossfade!r}")
    if problems:
        raise ValidationError({"clips": problems})
    target = Path(path).expanduser().resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".mp4", dir=target.parent)
    os.close(fd)
    part = Path(name)
    try:
        if crossfade == 0 and _same_parameters(sources):
            _copy_streams(sources, part)
        else:
            _reencode(sources, part, crossfade)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(part, 0o666 & ~umask)
        os.replace(part, target)
    finally:
        with contextlib.suppress(OSError):
            part.unlink(missing_ok=True)
    return target


def _parameters(path: Path) -> tuple[Any, ...]:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        return (
            ctx.name,
            ctx.width,
            ctx.height,
            ctx.format.name if ctx.format else None,
            stream.time_base,
            stream.average_rate,
            bytes(ctx.extradata or b""),
        )


def _same_parameters(sources: Sequence[Path]) -> bool:
    first = _parameters(sources[0])
    return all(_parameters(p) == first for p in sources[1:])


def _copy_streams(sources: Sequence[Path], out: Path) -> None:
    import av

    with av.open(str(out), "w", format="mp4") as output:
        stream_out: Any = None
        offset = 0
        for source in sources:
            with av.open(str(source)) as container:
                stream_in = container.streams.video[0]
                if stream_out is None:
                    stream_out = output.add_stream_from_template(stream_in)
                end = offset
                for packet in container.demux(stream_in):
                    if packet.dts is None:  # the demuxer's end-of-stream marker
                        continue
                    packet.pts = (packet.pts or 0) + offset
                    packet.dts = packet.dts + offset
                    end = max(end, packet.pts + (packet.duration or 0))
                    packet.stream = stream_out
                    output.mux(packet)
                offset = end


def _frames(path: Path) -> Iterator[Any]:
    import av

    with av.open(str(path)) as container:
        yield from container.decode(video=0)


def _frame_count(path: Path) -> int:
    return sum(1 for _ in _frames(path))


def _reencode(sources: Sequence[Path], out: Path, crossfade: float) -> None:
    """Decode, blend ``crossfade`` seconds across each cut, encode once.

    With k blended frames per cut the film has sum(frames) - k * (cuts) frames:
    the end of one shot and the start of the next share the cut's k frames.
    """
    import av
    from PIL import Image

    with av.open(str(sources[0])) as first:
        stream = first.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        rate = Fraction(stream.average_rate or 24)
    fade = round(crossfade * rate)
    if fade:
        fade = min(fade, *(_frame_count(p) - 1 for p in sources))
    with av.open(str(out), "w", format="mp4") as output:
        encoder = output.add_stream("libx264", rate=rate)
        encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
        encoder.options = {"crf": CRF, "preset": "medium"}

        def emit(image: Image.Image) -> None:
            frame = av.VideoFrame.from_image(image)  # type: ignore[no-untyped-call]
            for packet in encoder.encode(frame):
                output.mux(packet)

        tail: list[Image.Image] = []  # the previous shot's last frames, to blend into this one
        for index, source in enumerate(sources):
            last = index == len(sources) - 1
            held: collections.deque[Image.Image] = collections.deque()
            for i, frame in enumerate(_frames(source)):
                image = frame.to_image().convert("RGB")
                if image.size != (width, height):
                    image = image.resize((width, height))
                if i < len(tail):
                    image = Image.blend(tail[i], image, (i + 1) / (len(tail) + 1))
                if last or not fade:
                    emit(image)
                    continue
                held.append(image)  # this shot's end waits for the next shot's start
                if len(held) > fade:
                    emit(held.popleft())
            tail = list(held)
        for packet in encoder.encode():
            output.mux(packet)
