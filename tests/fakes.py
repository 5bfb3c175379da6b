"""Test doubles shared by the suite."""

from __future__ import annotations

import asyncio
import functools
import io


class FakeClock:
    """A clock that only moves when something sleeps on it.

    Give ``clock.now`` to the simulator and the clock itself to a client
    (``_clock=``): the client's sleeps advance time for both, so a 30 s job
    finishes in microseconds of real time and nothing in a test really sleeps.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self.t = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += max(seconds, 0.0)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)

    async def async_sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)
        await asyncio.sleep(0)  # still yield, as a real sleep would


@functools.cache
def tiny_mp4() -> bytes:
    """A real, decodable MP4 (H.264, yuv420p, 64x36, 8 frames at 8 fps), made once a session.

    The video index (``moov``) is written after the frames, as a plain muxer does,
    so a copy cut short cannot be decoded: a client's ``ftyp`` check plus a
    first-frame decode tells a whole video from a broken one.
    """
    import av
    import numpy as np

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=8)
        stream.width, stream.height, stream.pix_fmt = 64, 36, "yuv420p"
        for i in range(8):
            image = np.full((36, 64, 3), (40 + i * 20, 90, 160 - i * 10), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buffer.getvalue()
