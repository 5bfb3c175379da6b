"""Frames and films: the last frame of a clip (sharpest of a few), and shots cut into one MP4."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import av
import pytest
from PIL import Image, ImageChops, ImageDraw, ImageFilter

import gen3widgets as g3
from gen3widgets import _film
from gen3widgets._film import cut
from gen3widgets._frames import last_frame

FPS = 24


def _picture(n: int, size: tuple[int, int] = (96, 64)) -> Image.Image:
    """A frame with sharp edges that move with ``n`` (so each frame differs)."""
    image = Image.new("RGB", size, (20, 30, 40))
    draw = ImageDraw.Draw(image)
    for x in range(0, size[0], 8):
        draw.line([(x + n % 8, 0), (x + n % 8, size[1])], fill=(240, 240, 240), width=2)
    draw.rectangle([10 + n, 10, 30 + n, 30], fill=(200, 40, 40))
    return image


def make_clip(path: Path, images: Sequence[Image.Image], *, crf: str = "0") -> Path:
    """An H.264 MP4 of ``images`` at 24 fps (lossless by default, so frames compare exactly)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height = images[0].size
        stream.pix_fmt = "yuv444p" if crf == "0" else "yuv420p"
        stream.options = {"crf": crf, "preset": "ultrafast"}
        for image in images:
            for packet in stream.encode(av.VideoFrame.from_image(image)):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def _decoded(path: Path) -> list[Image.Image]:
    with av.open(str(path)) as container:
        return [frame.to_image() for frame in container.decode(video=0)]


def _difference(a: Image.Image, b: Image.Image) -> int:
    return max(
        hi for _, hi in ImageChops.difference(a.convert("RGB"), b.convert("RGB")).getextrema()
    )


def test_last_frame_is_exactly_the_clip_s_last_decoded_frame(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "a.mp4", [_picture(n) for n in range(4 * FPS)])
    frames = _decoded(clip)
    assert len(frames) == 4 * FPS
    got = last_frame(clip)
    assert got.mode == "RGB" and got.size == frames[-1].size
    assert _difference(got, frames[-1]) == 0
    assert _difference(got, frames[-2]) > 0  # and not its neighbour


def test_sharpest_of_skips_a_blurred_last_frame(tmp_path: Path) -> None:
    images = [_picture(n).filter(ImageFilter.GaussianBlur(2)) for n in range(2 * FPS)]
    images[-2] = _picture(2 * FPS - 2)  # one sharp frame among softer ones
    images[-1] = images[-1].filter(ImageFilter.GaussianBlur(4))  # motion blur at the very end
    clip = make_clip(tmp_path / "blur.mp4", images)
    frames = _decoded(clip)
    assert _difference(last_frame(clip), frames[-1]) == 0
    assert _difference(last_frame(clip, sharpest_of=3), frames[-2]) == 0


def test_last_frame_of_a_generation_needs_its_saved_video(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "g.mp4", [_picture(n) for n in range(10)])
    done = g3.Generation(id="g", status=g3.Status.COMPLETED, local_path=clip)
    assert last_frame(done).size == (96, 64)
    with pytest.raises(g3.NotReadyError, match="download"):
        last_frame(g3.Generation(id="g", status=g3.Status.COMPLETED))
    with pytest.raises(g3.ValidationError):
        last_frame(clip, sharpest_of=0)


def test_shots_with_the_same_parameters_are_cut_without_re_encoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lengths = (FPS * 2, FPS, FPS * 3)
    clips = [
        make_clip(tmp_path / f"s{i}.mp4", [_picture(n + 50 * i) for n in range(k)], crf="23")
        for i, k in enumerate(lengths)
    ]
    monkeypatch.setattr(_film, "_reencode", lambda *a: pytest.fail("re-encoded"))
    film = cut(clips, tmp_path / "out" / "film.mp4")
    assert film.is_absolute() and film.parent.name == "out"
    frames = _decoded(film)
    assert len(frames) == sum(lengths)  # the film lasts the sum of its shots
    with av.open(str(film)) as container:
        stream = container.streams.video[0]
        assert float(stream.duration * stream.time_base) == pytest.approx(
            sum(lengths) / FPS, abs=0.05
        )
    # The packets were copied: the first shot's frames decode to exactly the same pixels.
    assert _difference(frames[0], _decoded(clips[0])[0]) == 0
    assert not list((tmp_path / "out").glob(".*"))  # no temporary file left


def test_shots_that_differ_are_re_encoded_to_the_first_shot_s_size(tmp_path: Path) -> None:
    small = make_clip(tmp_path / "a.mp4", [_picture(n) for n in range(FPS)])
    large = make_clip(tmp_path / "b.mp4", [_picture(n, (128, 96)) for n in range(FPS)])
    film = cut([small, large], tmp_path / "film.mp4")
    frames = _decoded(film)
    assert len(frames) == 2 * FPS and {f.size for f in frames} == {(96, 64)}


def test_a_crossfade_blends_each_cut(tmp_path: Path) -> None:
    dark = [Image.new("RGB", (64, 64), (0, 0, 0))] * FPS
    light = [Image.new("RGB", (64, 64), (250, 250, 250))] * FPS
    clips = [make_clip(tmp_path / "d.mp4", dark), make_clip(tmp_path / "l.mp4", light)]
    film = cut(clips, tmp_path / "film.mp4", crossfade=0.5)
    frames = _decoded(film)
    assert len(frames) == 2 * FPS - FPS // 2  # the cut's 12 frames are shared
    middle = [f.getpixel((32, 32))[0] for f in frames[FPS // 2 : FPS]]
    assert middle == sorted(middle) and 20 < middle[len(middle) // 2] < 230


def test_cut_refuses_what_it_cannot_cut(tmp_path: Path) -> None:
    with pytest.raises(g3.ValidationError, match="at least one clip"):
        cut([], tmp_path / "f.mp4")
    with pytest.raises(g3.ValidationError, match="does not exist"):
        cut([tmp_path / "nope.mp4"], tmp_path / "f.mp4")
    clip = make_clip(tmp_path / "a.mp4", [_picture(0)] * 3)
    with pytest.raises(g3.ValidationError, match="crossfade"):
        cut([clip], tmp_path / "f.mp4", crossfade=-1)
