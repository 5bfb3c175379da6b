"""Real, decodable MP4s for tests, made with PyAV in milliseconds (and cached)."""

from __future__ import annotations

import functools
import io

from gen3widgets.simulator._render import RenderSpec


@functools.lru_cache(maxsize=64)
def tiny_mp4(seed: int, frames: int = 9) -> bytes:
    """A 64x48 H.264 MP4 at 8 fps: a colour from the seed, brightening frame by frame."""
    import av
    import numpy as np

    base = np.array([seed * 37 % 200, seed * 91 % 200, seed * 53 % 200], dtype=np.int32)
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=8)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(frames):
            pixel = np.clip(base + i * 6, 0, 255).astype(np.uint8)
            image = np.broadcast_to(pixel, (48, 64, 3)).copy()
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buffer.getvalue()


def tiny_render(spec: RenderSpec) -> bytes:
    """A simulator renderer handing out ``tiny_mp4(seed)``."""
    return tiny_mp4(spec.seed)


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
