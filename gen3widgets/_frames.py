"""Frames of a saved clip: the last one (what the next shot starts from), sharpest of a few.

Chaining shots means the last frame of one becomes the first frame of the
next. Motion blur on the very last frame is what softens a chain shot after
shot, so ``last_frame(video, sharpest_of=N)`` can pick the sharpest of the
last N frames instead (sharpness: the variance of an edge filter's output).
Decoding needs PyAV; it seeks near the end and decodes forward, so the frame
returned is exactly the last one the clip decodes to.
"""

from __future__ import annotations

import collections
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._decoding import decoded
from ._errors import DownloadError, NotReadyError, ValidationError
from ._models import Generation

if TYPE_CHECKING:
    from PIL import Image as PILImage

TAIL_SECONDS = 2.0  # seek this far before the end (plus the frames asked for), then decode on


def clip_path(video: Generation | str | os.PathLike[str]) -> Path:
    """The file of a clip given as a path or a saved ``Generation``."""
    if isinstance(video, Generation):
        if video.local_path is None:
            raise NotReadyError(
                f"Generation {video.id} has no saved video yet: wait for it and download it "
                "(client.download(generation)) first."
            )
        return Path(video.local_path)
    return Path(video)


def last_frame(
    video: Generation | str | os.PathLike[str], *, sharpest_of: int = 1
) -> PILImage.Image:
    """The last decoded frame of a clip, or with ``sharpest_of=N`` the sharpest of its last N.

    ``video`` is a path or a completed ``Generation`` whose video is saved.
    Returns an RGB ``PIL.Image.Image``.
    """
    if isinstance(sharpest_of, bool) or not isinstance(sharpest_of, int) or sharpest_of < 1:
        raise ValidationError(
            {"sharpest_of": [f"must be a whole number of frames >= 1, not {sharpest_of!r}"]}
        )
    path = clip_path(video)
    return decoded(_pick, path, sharpest_of)


def _pick(path: Path, sharpest_of: int) -> PILImage.Image:
    frames = _tail(path, sharpest_of)
    if not frames:
        raise DownloadError(f"{path} has no decodable video frame.")
    images: list[PILImage.Image] = [frame.to_image() for frame in frames]
    scores = [_sharpness(image) for image in images]
    best = max(range(len(images)), key=lambda i: (scores[i], i))  # ties: the later frame
    return images[best].convert("RGB")


def _tail(path: Path, count: int) -> list[Any]:
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise DownloadError(f"{path} has no video stream.")
            stream = container.streams.video[0]
            kept: collections.deque[Any] = collections.deque(maxlen=count)
            start = _seek_target(container, stream, count)
            if start is not None:
                container.seek(start, stream=stream, backward=True, any_frame=False)
            for frame in container.decode(stream):
                kept.append(frame)
            if start is not None and len(kept) < count:
                return _tail_from_start(path, count)  # the seek landed too late: read it all
            return list(kept)
    except (av.error.FFmpegError, OSError) as exc:
        raise DownloadError(f"{path} could not be decoded ({exc}).") from None


def _tail_from_start(path: Path, count: int) -> list[Any]:
    import av

    with av.open(str(path)) as container:
        kept: collections.deque[Any] = collections.deque(maxlen=count)
        for frame in container.decode(video=0):
            kept.append(frame)
        return list(kept)


def _seek_target(container: Any, stream: Any, count: int) -> int | None:
    """Where to seek (in the stream's time base) so the last ``count`` frames follow."""
    if stream.duration is None or stream.time_base is None:
        return None
    rate = float(stream.average_rate or 24)
    back = TAIL_SECONDS + count / rate
    target = stream.duration - int(back / float(stream.time_base))
    if target <= 0:
        return None
    return int(target + (stream.start_time or 0))


def _sharpness(image: PILImage.Image) -> float:
    from PIL import ImageFilter, ImageStat

    edges = image.convert("L").filter(ImageFilter.FIND_EDGES)
    return float(ImageStat.Stat(edges).var[0])
