"""A clip at a real video's bit rate for the preview tests (``tests.fakes`` has tiny ones)."""

from __future__ import annotations

import functools
import io


@functools.lru_cache(maxsize=8)
def noisy_mp4(
    width: int = 640,
    height: int = 384,
    seconds: float = 2.0,
    fps: int = 24,
    bit_rate: int = 4_000_000,
) -> bytes:
    """A clip at a real video's bit rate: noise costs every bit it is given.

    It brightens from start to end, so a frame's brightness tells where in the clip it was.
    """
    import av
    import numpy as np

    rng = np.random.default_rng(7)
    frames = round(seconds * fps)
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.bit_rate = bit_rate
        stream.options = {"preset": "ultrafast"}
        for i in range(frames):
            level = 30 + 180 * i // max(1, frames - 1)
            noise = rng.integers(0, 40, (height, width, 3), dtype=np.uint8)
            image = (np.full((height, width, 3), level, dtype=np.uint8) + noise).clip(0, 255)
            frame = av.VideoFrame.from_ndarray(image.astype(np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buffer.getvalue()
